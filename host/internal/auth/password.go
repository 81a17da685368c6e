package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
	// SaltLen and KeyLen are in bytes.
	SaltLen, KeyLen uint32
}

// DefaultParams are the host's password hashing costs: 64 MiB, one pass,
// two lanes, a 16-byte salt and a 32-byte key (above OWASP's minimum for
// argon2id, m=46 MiB t=1 p=1, and about 50 ms on a current server core).
// Changing them is safe: hashes made with others keep verifying and are
// replaced at the user's next sign-in (NeedsRehash).
var DefaultParams = Params{Memory: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}

// Password limits.
const (
	// MinPasswordLen is the fewest characters a new password may have.
	MinPasswordLen = 10
	// MaxPasswordBytes is the longest password accepted, in bytes.
	MaxPasswordBytes = 1024
)

// hashSlots bounds how many hashes run at once: each takes Params.Memory,
// so a burst of sign-ins must queue rather than take gigabytes.
var hashSlots = make(chan struct{}, 4)

func acquireSlot(ctx context.Context) (func(), error) {
	select {
	case hashSlots <- struct{}{}:
		return func() { <-hashSlots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to hash a password: %w", ctx.Err())
	}
}

// HashPassword hashes a password with DefaultParams.
func HashPassword(ctx context.Context, password string) (string, error) {
	return DefaultParams.Hash(ctx, password)
}

// Hash hashes a password with argon2id and returns it in PHC format:
// $argon2id$v=19$m=65536,t=1,p=2$<salt>$<key> (unpadded standard base64).
// It does not apply the password policy: CheckPassword does.
func (p Params) Hash(ctx context.Context, password string) (string, error) {
	salt, err := p.salt()
	if err != nil {
		return "", err
	}
	release, err := acquireSlot(ctx)
	if err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	release()
	return p.encode(salt, key), nil
}

// Unmatchable returns a hash in PHC format with p's parameters that no
// password matches: a random salt and a random key, which no argon2id
// output is but by chance (2^-8*KeyLen). Verifying a password against it
// costs what verifying against a real hash with p costs, so it stands in
// for the hash of an unknown user; making it costs no hashing, so a host
// that starts does not spend Params.Memory (64 MiB) and the time of a
// hash on a sign-in that may never come.
func (p Params) Unmatchable() (string, error) {
	salt, err := p.salt()
	if err != nil {
		return "", err
	}
	key := make([]byte, p.KeyLen)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return p.encode(salt, key), nil
}

// salt checks p and returns a random salt of p.SaltLen bytes.
func (p Params) salt() ([]byte, error) {
	if p.Memory < 8*uint32(p.Threads) || p.Time < 1 || p.Threads < 1 || p.SaltLen < 8 || p.KeyLen < 16 {
		return nil, fmt.Errorf("argon2id parameters %+v are too weak", p)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return salt, nil
}

// encode writes a hash in PHC format.
func (p Params) encode(salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Limits on a stored hash's parameters, so a damaged or planted hash
// cannot make a sign-in take minutes or gigabytes.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 16
	maxKeyLen  = 128
	maxSaltLen = 64
)

// decodeHash parses a PHC argon2id string.
func decodeHash(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("not an argon2id hash in PHC format")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("argon2id hash of unsupported version %q", parts[2])
	}
	var m, t, threads uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("argon2id hash: bad parameter %q", kv)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			threads = n
		default:
			return p, nil, nil, fmt.Errorf("argon2id hash: unknown parameter %q", k)
		}
	}
	if m < 8 || m > maxMemory || t < 1 || t > maxTime || threads < 1 || threads > 255 || m < 8*threads {
		return p, nil, nil, fmt.Errorf("argon2id hash: parameters m=%d t=%d p=%d out of range", m, t, threads)
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("argon2id hash: bad salt")
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("argon2id hash: bad key")
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(threads), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}

// VerifyPassword reports whether password matches an argon2id hash in PHC
// format, comparing in constant time. An error means the hash itself is
// unusable (or ctx ended while waiting for a hashing slot).
func VerifyPassword(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	release, err := acquireSlot(ctx)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	release()
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether a hash was made with parameters other than
// want (or is not a usable argon2id hash), so the password should be hashed
// again once it is known, at sign-in.
func NeedsRehash(encoded string, want Params) bool {
	p, _, _, err := decodeHash(encoded)
	return err != nil || p != want
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{2,63}$`)

// NormalizeUsername is how usernames are stored and looked up: trimmed
// and lowercase, so "Admin" and "admin" are one user.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CheckUsername checks a normalized username.
func CheckUsername(name string) error {
	if !usernameRE.MatchString(name) {
		return fmt.Errorf("%w: use 3 to 64 characters, lowercase letters, digits, '.', '_', '-' or '@', starting with a letter or digit", ErrInvalidUsername)
	}
	return nil
}

// CheckPassword applies the password policy to a new password: at least
// MinPasswordLen characters, at most MaxPasswordBytes bytes, not the
// username, and not one character repeated. The error says which rule it
// broke and wraps ErrWeakPassword.
func CheckPassword(username, password string) error {
	n := utf8.RuneCountInString(password)
	first, _ := utf8.DecodeRuneInString(password)
	switch {
	case n < MinPasswordLen:
		return fmt.Errorf("%w: it must be at least %d characters long (this one has %d)", ErrWeakPassword, MinPasswordLen, n)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("%w: it must be at most %d bytes long", ErrWeakPassword, MaxPasswordBytes)
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: it is not valid UTF-8 text", ErrWeakPassword)
	case username != "" && strings.EqualFold(strings.TrimSpace(password), username):
		return fmt.Errorf("%w: it must not be the username", ErrWeakPassword)
	case strings.Count(password, string(first)) == n:
		return fmt.Errorf("%w: it must not be one character repeated", ErrWeakPassword)
	}
	return nil
}
