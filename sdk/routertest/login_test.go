package routertest_test

import (
	"crypto/md5" //nolint:gosec // the pre-6.43 RouterOS login
	"encoding/hex"
	"fmt"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

func response(password, challengeHex string) string {
	ch, _ := hex.DecodeString(challengeHex)
	h := md5.New() //nolint:gosec
	h.Write([]byte{0})
	h.Write([]byte(password))
	h.Write(ch)
	return fmt.Sprintf("00%x", h.Sum(nil))
}

var challengeRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestLogin(t *testing.T) {
	t.Parallel()
	const bad = "invalid user name or password (6)"
	r := routertest.Start(t, routertest.Options{Username: "api", Password: "s3cret"})

	c := dialRaw(t, r)
	if got := trapMessage(t, c.run("/ip/hotspot/user/print")); got != "not logged in" {
		t.Errorf("before login: %q", got)
	}
	for _, tc := range []struct {
		name  string
		words []string
	}{
		{"wrong password", []string{"/login", "=name=api", "=password=nope"}},
		{"wrong user", []string{"/login", "=name=admin", "=password=s3cret"}},
		{"no password", []string{"/login", "=name=api"}},
		{"challenge request", []string{"/login"}},
		{"challenge response", []string{"/login", "=name=api", "=response=00" + "0123456789abcdef0123456789abcdef"}},
	} {
		if got := trapMessage(t, c.run(tc.words...)); got != bad {
			t.Errorf("%s: trap %q; want %q", tc.name, got, bad)
		}
	}
	if r.Logins() != 0 {
		t.Fatalf("Logins %d after refusals", r.Logins())
	}
	c.login("api", "s3cret")
	if r.Logins() != 1 {
		t.Errorf("Logins %d; want 1", r.Logins())
	}
	if diff := cmp.Diff([]string{"!re", "!done"}, words(c.run("/system/identity/print"))); diff != "" {
		t.Errorf("after login (-want +got):\n%s", diff)
	}
}

func TestLegacyLogin(t *testing.T) {
	t.Parallel()
	const bad = "invalid user name or password (6)"
	r := routertest.Start(t, routertest.Options{Password: "s3cret", LegacyLogin: true})

	t.Run("challenge", func(t *testing.T) {
		c := dialRaw(t, r)
		ch := doneRet(t, c.run("/login"))
		if !challengeRE.MatchString(ch) {
			t.Fatalf("challenge %q; want 32 hex digits", ch)
		}
		if got := doneRet(t, c.run("/login", "=name=admin", "=response="+response("s3cret", ch))); got != "" {
			t.Errorf("login answered ret %q", got)
		}
		if diff := cmp.Diff([]string{"!re", "!done"}, words(c.run("/system/identity/print"))); diff != "" {
			t.Errorf("after login (-want +got):\n%s", diff)
		}
	})
	t.Run("wrong response", func(t *testing.T) {
		c := dialRaw(t, r)
		ch := doneRet(t, c.run("/login"))
		if got := trapMessage(t, c.run("/login", "=name=admin", "=response="+response("wrong", ch))); got != bad {
			t.Errorf("trap %q", got)
		}
		// The challenge is used up: the right response to it fails now.
		if got := trapMessage(t, c.run("/login", "=name=admin", "=response="+response("s3cret", ch))); got != bad {
			t.Errorf("reused challenge: trap %q", got)
		}
		if got := trapMessage(t, c.run("/system/identity/print")); got != "not logged in" {
			t.Errorf("trap %q", got)
		}
	})
	t.Run("response without challenge", func(t *testing.T) {
		c := dialRaw(t, r)
		if got := trapMessage(t, c.run("/login", "=name=admin", "=response="+response("s3cret", "00"))); got != bad {
			t.Errorf("trap %q", got)
		}
	})
	t.Run("password login gets a challenge", func(t *testing.T) {
		// A pre-6.43 router ignored =name= =password= and answered with a
		// challenge; go-routeros' Login relies on that to fall back.
		c := dialRaw(t, r)
		ch := doneRet(t, c.run("/login", "=name=admin", "=password=s3cret"))
		if !challengeRE.MatchString(ch) {
			t.Fatalf("challenge %q", ch)
		}
		if got := trapMessage(t, c.run("/system/identity/print")); got != "not logged in" {
			t.Errorf("password login logged in: %q", got)
		}
		doneRet(t, c.run("/login", "=name=admin", "=response="+response("s3cret", ch)))
	})
	if r.Logins() != 2 {
		t.Errorf("Logins %d; want 2", r.Logins())
	}
}
