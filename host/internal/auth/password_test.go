package auth

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// cheap are parameters that keep tests fast; the real ones are exercised
// by TestHashVerifyDefault.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)

func TestHashVerifyDefault(t *testing.T) {
	ctx := context.Background()
	h, err := HashPassword(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !phc.MatchString(h) || !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=1,p=2$") {
		t.Errorf("hash %q is not PHC argon2id with the default parameters", h)
	}
	if ok, err := VerifyPassword(ctx, h, "correct horse battery staple"); err != nil || !ok {
		t.Errorf("the right password: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(ctx, h, "correct horse battery stapl"); err != nil || ok {
		t.Errorf("a wrong password: %v, %v", ok, err)
	}
	if NeedsRehash(h, DefaultParams) {
		t.Error("a fresh hash needs rehashing")
	}
}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	a, err := cheap.Hash(ctx, "s3cret-passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cheap.Hash(ctx, "s3cret-passw0rd")
	if a == b {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for _, tt := range []struct {
		password string
		want     bool
	}{
		{"s3cret-passw0rd", true},
		{"S3cret-passw0rd", false},
		{"", false},
		{"s3cret-passw0rd ", false},
	} {
		if ok, err := VerifyPassword(ctx, a, tt.password); err != nil || ok != tt.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tt.password, ok, err, tt.want)
		}
	}
	if !NeedsRehash(a, DefaultParams) || NeedsRehash(a, cheap) {
		t.Error("NeedsRehash does not compare parameters")
	}
	for _, bad := range []string{
		"",
		"plaintext",
		"$2a$10$abcdefghijklmnopqrstuu5Rx2Lrj1bqCQD8z5aGmS7eL5ZVn1m1C", // bcrypt
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", // 95 GiB
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, err := VerifyPassword(ctx, bad, "x"); err == nil || ok {
			t.Errorf("VerifyPassword with hash %q = %v, %v; want an error", bad, ok, err)
		}
		if !NeedsRehash(bad, cheap) {
			t.Errorf("NeedsRehash(%q) = false", bad)
		}
	}
	if _, err := (Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}).Hash(ctx, "x"); err == nil {
		t.Error("a 4-byte salt was accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	_, err = cheap.Hash(cancelled, "x")
	for range cap(hashSlots) {
		<-hashSlots
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("hashing with every slot taken and ctx cancelled: %v", err)
	}
}

// TestUnmatchable checks the stand-in hash of unknown users: a PHC hash
// with the given parameters (so verifying against it costs what a real
// one costs), different each time, that no password matches, not even the
// empty one or the one Hash would have been given.
func TestUnmatchable(t *testing.T) {
	ctx := context.Background()
	a, err := cheap.Unmatchable()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cheap.Unmatchable()
	if !phc.MatchString(a) || a == b {
		t.Errorf("Unmatchable gave %q and %q: want two different PHC hashes", a, b)
	}
	if NeedsRehash(a, cheap) || !NeedsRehash(a, DefaultParams) {
		t.Errorf("Unmatchable's hash %q does not carry the parameters it was made with", a)
	}
	for _, pw := range []string{"", "x", "not a password anyone has", "s3cret-passw0rd"} {
		if ok, err := VerifyPassword(ctx, a, pw); err != nil || ok {
			t.Errorf("VerifyPassword(unmatchable, %q) = %v, %v; want false, nil", pw, ok, err)
		}
	}
	if _, err := (Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}).Unmatchable(); err == nil {
		t.Error("an 8-byte key was accepted")
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		user, password string
		problem        string // "" = accepted
	}{
		{"ana", "correct horse", ""},
		{"ana", "ééééééééé1", ""},
		{"ana", "short", "at least 10 characters long (this one has 5)"},
		{"ana", "ééééééééé", "at least 10 characters long (this one has 9)"},
		{"ana", strings.Repeat("a", 10), "one character repeated"},
		{"ana", strings.Repeat("é", 12), "one character repeated"},
		{"administrator", "Administrator", "must not be the username"},
		{"ana", strings.Repeat("ab", 600), "at most 1024 bytes"},
		{"ana", "abcdefghij\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := CheckPassword(tt.user, tt.password)
		switch {
		case tt.problem == "" && err != nil:
			t.Errorf("CheckPassword(%q) = %v, want nil", tt.password, err)
		case tt.problem != "" && (!errors.Is(err, ErrWeakPassword) || !strings.Contains(err.Error(), tt.problem)):
			t.Errorf("CheckPassword(%q) = %v, want ErrWeakPassword saying %q", tt.password, err, tt.problem)
		}
	}
}

func TestUsernames(t *testing.T) {
	if got := NormalizeUsername("  Ana.Maria@ISP "); got != "ana.maria@isp" {
		t.Errorf("NormalizeUsername = %q", got)
	}
	for name, ok := range map[string]bool{
		"admin": true, "ops-1": true, "a.b_c@d": true, "0ps": true,
		"ab": false, "Admin": false, "-ops": false, "with space": false, "": false, strings.Repeat("a", 65): false,
	} {
		if err := CheckUsername(name); (err == nil) != ok || (err != nil && !errors.Is(err, ErrInvalidUsername)) {
			t.Errorf("CheckUsername(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
