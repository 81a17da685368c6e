package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

// devConfig is a development configuration whose data directory (not yet
// created) is in a fresh temporary directory.
func devConfig(t *testing.T, dataDir string) *config.Config {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.DataDir = dataDir
	return cfg
}

type secrets struct{ JWT, Cookie, Key string }

func secretsOf(c *config.Config) secrets {
	return secrets{c.Security.JWTSecret, c.Security.CookieSecret, c.Security.EncryptionKey}
}

func readStored(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	delete(m, "note")
	return m
}

func TestResolveSecretsDevelopment(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")

	// First start: everything is generated and stored.
	first := devConfig(t, dataDir)
	if err := first.ResolveSecrets(); err != nil {
		t.Fatalf("ResolveSecrets: %v", err)
	}
	got := secretsOf(first)
	for _, v := range []string{got.JWT, got.Cookie, got.Key} {
		if len(v) != 64 {
			t.Errorf("generated secret %d characters long, want 64 hex characters", len(v))
		}
	}
	if got.JWT == got.Cookie || got.Cookie == got.Key {
		t.Error("two generated secrets are equal")
	}
	if key, err := first.EncryptionKey(); err != nil || len(key) != 32 {
		t.Errorf("EncryptionKey() = %d bytes, %v; want 32", len(key), err)
	}
	wantSources := config.SecretSources{JWTSecret: config.SourceGenerated, CookieSecret: config.SourceGenerated, EncryptionKey: config.SourceGenerated}
	if diff := cmp.Diff(wantSources, first.Sources); diff != "" {
		t.Errorf("Sources mismatch (-want +got):\n%s", diff)
	}
	path := filepath.Join(dataDir, config.SecretsFile)
	if first.SecretsPath() != path {
		t.Errorf("SecretsPath() = %q, want %q", first.SecretsPath(), path)
	}
	for p, mode := range map[string]os.FileMode{path: 0o600, dataDir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), mode)
		}
	}
	if diff := cmp.Diff(map[string]string{"jwt_secret": got.JWT, "cookie_secret": got.Cookie, "encryption_key": got.Key}, readStored(t, path)); diff != "" {
		t.Errorf("secrets.json mismatch (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dataDir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want secrets.json alone (no temporary files left)", len(entries))
	}

	// Next start: the same secrets, so sessions and encrypted data survive.
	second := devConfig(t, dataDir)
	if err := second.ResolveSecrets(); err != nil {
		t.Fatalf("ResolveSecrets again: %v", err)
	}
	if diff := cmp.Diff(got, secretsOf(second)); diff != "" {
		t.Errorf("the second start has other secrets (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(wantSources, second.Sources); diff != "" {
		t.Errorf("Sources mismatch (-want +got):\n%s", diff)
	}

	// A configured secret wins over the stored one, and the file is left
	// as it was.
	third := devConfig(t, dataDir)
	third.Security.JWTSecret, third.Sources.JWTSecret = strings.Repeat("j", 40), config.SourceEnv
	if err := third.ResolveSecrets(); err != nil {
		t.Fatalf("ResolveSecrets with JWT_SECRET: %v", err)
	}
	if third.Security.JWTSecret != strings.Repeat("j", 40) || third.Sources.JWTSecret != config.SourceEnv || third.Security.CookieSecret != got.Cookie {
		t.Errorf("with JWT_SECRET set: %+v from %+v", secretsOf(third), third.Sources)
	}
	if readStored(t, path)["jwt_secret"] != got.JWT {
		t.Error("secrets.json changed although nothing had to be generated")
	}
}

// TestResolveSecretsAddsMissing checks that a secret missing from the file
// (it was configured when the file was made) is added, and the others kept.
func TestResolveSecretsAddsMissing(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	first := devConfig(t, dataDir)
	first.Security.JWTSecret = strings.Repeat("j", 40)
	if err := first.ResolveSecrets(); err != nil {
		t.Fatalf("ResolveSecrets: %v", err)
	}
	path := first.SecretsPath()
	if _, ok := readStored(t, path)["jwt_secret"]; ok {
		t.Error("secrets.json holds a configured secret; it should hold only generated ones")
	}
	second := devConfig(t, dataDir) // JWT_SECRET no longer set
	if err := second.ResolveSecrets(); err != nil {
		t.Fatalf("ResolveSecrets: %v", err)
	}
	stored := readStored(t, path)
	if len(second.Security.JWTSecret) != 64 || stored["jwt_secret"] != second.Security.JWTSecret {
		t.Errorf("the JWT secret was not generated and stored: %q, stored %q", second.Security.JWTSecret, stored["jwt_secret"])
	}
	if second.Security.CookieSecret != first.Security.CookieSecret || second.Security.EncryptionKey != first.Security.EncryptionKey {
		t.Error("the stored cookie secret or encryption key changed")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets.json has mode %04o after the update, want 0600", fi.Mode().Perm())
	}
}

// TestResolveSecretsConcurrently starts several hosts on one data
// directory at once: they must all end up with the same secrets.
func TestResolveSecretsConcurrently(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	const n = 8
	cfgs := make([]*config.Config, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i] = devConfig(t, dataDir)
		wg.Go(func() { errs[i] = cfgs[i].ResolveSecrets() })
	}
	wg.Wait()
	for i := range cfgs {
		if errs[i] != nil {
			t.Fatalf("host %d: %v", i, errs[i])
		}
		if diff := cmp.Diff(secretsOf(cfgs[0]), secretsOf(cfgs[i])); diff != "" {
			t.Errorf("host %d has other secrets than host 0:\n%s", i, diff)
		}
	}
}

func TestCheckSecretsWritesNothing(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := devConfig(t, dataDir)
	if err := cfg.CheckSecrets(); err != nil {
		t.Fatalf("CheckSecrets: %v", err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("CheckSecrets created %s (%v)", dataDir, err)
	}
	if diff := cmp.Diff([]string{"security.jwt_secret", "security.cookie_secret", "security.encryption_key"}, cfg.MissingSecrets()); diff != "" {
		t.Errorf("MissingSecrets mismatch (-want +got):\n%s", diff)
	}

	// Load and Check write nothing either.
	t.Chdir(t.TempDir())
	for _, load := range []func(string, []string, config.Overrides) (*config.Config, error){config.Load, config.Check} {
		if _, err := load("", []string{"MIKROBILL_DATA_DIR=" + dataDir}, config.Overrides{}); err != nil {
			t.Fatalf("load: %v", err)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("loading the configuration created %s (%v)", dataDir, err)
		}
	}

	// With a stored file, CheckSecrets takes its secrets.
	stored := devConfig(t, dataDir)
	if err := stored.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	checked := devConfig(t, dataDir)
	if err := checked.CheckSecrets(); err != nil {
		t.Fatalf("CheckSecrets: %v", err)
	}
	if diff := cmp.Diff(secretsOf(stored), secretsOf(checked)); diff != "" {
		t.Errorf("CheckSecrets did not take the stored secrets:\n%s", diff)
	}
	if checked.Sources.EncryptionKey != config.SourceGenerated || len(checked.MissingSecrets()) != 0 {
		t.Errorf("Sources %+v, MissingSecrets %v; want all generated", checked.Sources, checked.MissingSecrets())
	}
}

func TestResolveSecretsProduction(t *testing.T) {
	long := strings.Repeat("x", 32)
	key := strings.Repeat("ab", 32)
	tests := []struct {
		name                 string
		jwt, cookie, encrypt string
		want                 []string // empty: starts
		notWant              []string
	}{
		{"none", "", "", "", []string{
			"refusing to start in production",
			"security.jwt_secret is not set, and production requires it: set JWT_SECRET (or jwt_secret in mikrobill.hcl) to at least 32 random characters, make one with `openssl rand -hex 32`",
			"security.cookie_secret is not set, and production requires it: set COOKIE_SECRET",
			"security.encryption_key is not set, and production requires it: set MIKROBILL_ENCRYPTION_KEY (or encryption_key in mikrobill.hcl) to 32 bytes as 64 hex characters",
		}, nil},
		{"only the key missing", long, long, "", []string{"MIKROBILL_ENCRYPTION_KEY"}, []string{"JWT_SECRET", "COOKIE_SECRET"}},
		{"all set", long, long, key, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			// Secrets generated in development are not used in production.
			dev := devConfig(t, dataDir)
			if err := dev.ResolveSecrets(); err != nil {
				t.Fatal(err)
			}
			cfg := devConfig(t, dataDir)
			cfg.Environment = config.EnvProduction
			cfg.Security.JWTSecret, cfg.Security.CookieSecret, cfg.Security.EncryptionKey = tt.jwt, tt.cookie, tt.encrypt
			err := cfg.ResolveSecrets()
			checkErr := cfg.CheckSecrets()
			if len(tt.want) == 0 {
				if err != nil || checkErr != nil {
					t.Fatalf("ResolveSecrets() = %v, CheckSecrets() = %v; want nil", err, checkErr)
				}
				return
			}
			if err == nil || checkErr == nil {
				t.Fatalf("ResolveSecrets() = %v, CheckSecrets() = %v; want errors", err, checkErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error names %q, which is set:\n%v", w, err)
				}
			}
			if cfg.Security.EncryptionKey != tt.encrypt {
				t.Error("production took a secret from secrets.json")
			}
		})
	}
}

func TestSecretsFileProblems(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    []string
	}{
		{"not JSON", "{jwt_secret: nope", 0o600, []string{"secrets.json is not valid JSON", "delete it to generate new secrets", "can no longer be read"}},
		{"readable by others", `{}`, 0o644, []string{"can be read by other users (mode 0644)", "chmod 600"}},
		{"a short stored secret", `{"jwt_secret": "short"}`, 0o600, []string{"jwt_secret is shorter than 32 characters"}},
		{"a bad stored key", `{"encryption_key": "nope"}`, 0o600, []string{"encryption_key is not 32 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			path := filepath.Join(dataDir, config.SecretsFile)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func(*config.Config) error{
				"ResolveSecrets": (*config.Config).ResolveSecrets,
				"CheckSecrets":   (*config.Config).CheckSecrets,
			} {
				err := f(devConfig(t, dataDir))
				if err == nil {
					t.Fatalf("%s succeeded, want an error", name)
				}
				for _, w := range append(tt.want, path) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error does not contain %q:\n%v", name, w, err)
					}
				}
			}
			if raw, _ := os.ReadFile(path); string(raw) != tt.content {
				t.Error("a broken secrets.json was overwritten")
			}
		})
	}
}

// TestCheckReportsEverything checks that Check lists the values' problems
// and the missing production secrets together.
func TestCheckReportsEverything(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := config.Check("", []string{"NODE_ENV=production", "RATE_LIMIT_MAX=5", "MIKROBILL_LOG_LEVEL=loud", "JWT_SECRET=" + strings.Repeat("j", 32)}, config.Overrides{})
	if err == nil {
		t.Fatal("Check succeeded, want an error")
	}
	for _, w := range []string{"invalid configuration", `log_level "loud"`, "security.cookie_secret is not set", "security.encryption_key is not set"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "security.jwt_secret") {
		t.Errorf("error names the JWT secret, which is set:\n%v", err)
	}
	// Load alone accepts production without secrets: the rule is
	// ResolveSecrets', so that `mikrobill plugin list` still works there.
	if _, err := config.Load("", []string{"NODE_ENV=production"}, config.Overrides{}); err != nil {
		t.Errorf("Load in production without secrets: %v", err)
	}
}
