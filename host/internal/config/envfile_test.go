package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

func TestReadEnvFile(t *testing.T) {
	src := "\ufeff# the old system's .env\n" +
		"NODE_ENV=production\n" +
		"\n" +
		"export HOST=0.0.0.0\n" +
		"  PORT = 3001  \n" +
		"DB_PASSWORD='p#ss \"word\" $DB_USER'\n" +
		"JWT_SECRET=\"line\\none \\\"quoted\\\" \\\\ end\" # trailing comment\n" +
		"REDIS_PASSWORD=bare value # comment\n" +
		"COOKIE_SECRET=a#b\n" +
		"DB_USER=billing\n" +
		"DATABASE_URL=postgres://${DB_USER}@db/${NODE_ENV}\n" +
		"LITERAL=\\$DB_USER costs \\$5\n" +
		"CERT=\"-----BEGIN-----\nabc\n-----END-----\"\n" +
		"EMPTY=\n"
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := config.ReadEnvFile(path)
	if err != nil {
		t.Fatalf("ReadEnvFile: %v", err)
	}
	want := []string{
		"CERT=-----BEGIN-----\nabc\n-----END-----",
		"COOKIE_SECRET=a#b",
		"DATABASE_URL=postgres://billing@db/production",
		`DB_PASSWORD=p#ss "word" $DB_USER`,
		"DB_USER=billing",
		"EMPTY=",
		"HOST=0.0.0.0",
		"JWT_SECRET=line\none \"quoted\" \\ end",
		"LITERAL=$DB_USER costs $5",
		"NODE_ENV=production",
		"PORT=3001",
		"REDIS_PASSWORD=bare value",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestReadEnvFileErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"no equals sign", "PORT=1\nDB_HOST\n", []string{".env:2", "expected KEY=VALUE", "DB_HOST"}},
		{"no equals sign on the last line", "PORT=1\n# c\nDB_HOST", []string{".env:3", "expected KEY=VALUE", "DB_HOST"}},
		{"bad name", "A=1\n1PORT=3000\n", []string{".env:2", `"1PORT" is not a variable name`}},
		{"dotted name", "DB.HOST=x\n", []string{".env:1", `"DB.HOST" is not a variable name`}},
		{"unclosed quote", "A=1\n\nDB_PASSWORD=\"secret\n", []string{".env:3", "DB_PASSWORD", "does not close"}},
		{"unclosed quote after a good multi-line one", "A=\"x\ny\"\nB='z\n", []string{".env:3", "B", "does not close"}},
		{"text after quote", "A=1\nJWT_SECRET='a' b\n", []string{".env:2", "JWT_SECRET", "unexpected text after the quoted value"}},
		{"bad character in a name", "DB-HOST=x\n", []string{".env:1", "DB-HOST", `unexpected character "-"`}},
		{"a dollar that would expand to nothing", "A=1\nDB_PASSWORD=Pa$SW0RD\n", []string{".env:2", "DB_PASSWORD", "character 3", "single quotes"}},
		{"braces naming a later variable", "URL=postgres://${DB_USER}@db\nDB_USER=x\n", []string{".env:1", "URL", "no variable set earlier"}},
		{"a dollar in a double-quoted value", "JWT_SECRET=\"abc$XYZ\"\n", []string{".env:1", "JWT_SECRET", "single quotes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(path, []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.ReadEnvFile(path)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, err)
				}
			}
			if err != nil && (strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "SW0RD") || strings.Contains(err.Error(), "XYZ")) {
				t.Errorf("error shows the value: %v", err)
			}
		})
	}
}

// TestLoadEnvFile: the old system's .env in the working directory
// configures the host as the same variables in the environment would, and a
// variable set in the process environment wins over the file.
func TestLoadEnvFile(t *testing.T) {
	dotenv := []byte(strings.Join(legacyDotEnv, "\n") + "\n")

	t.Run(".env in the working directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".env"), dotenv, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		fromFile, err := config.Load("", nil, config.Overrides{})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if fromFile.EnvFile != ".env" {
			t.Errorf("EnvFile = %q, want .env", fromFile.EnvFile)
		}
		t.Chdir(t.TempDir())
		fromEnv, err := config.Load("", legacyDotEnv, config.Overrides{})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		fromEnv.EnvFile = ".env"
		if diff := cmp.Diff(fromEnv, fromFile, semanticJSON); diff != "" {
			t.Errorf(".env and environment differ (-environment +file):\n%s", diff)
		}
	})
	t.Run("the process environment wins", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".env"), dotenv, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		cfg, err := config.Load("", []string{"PORT=4000", "DB_NAME=other"}, config.Overrides{})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Server.Port != 4000 || !strings.Contains(cfg.Database.URL, "/other?") {
			t.Errorf("port %d, database %q; want 4000 and the database \"other\" from the environment", cfg.Server.Port, cfg.Database.URL)
		}
		// Flags still win over both.
		cfg, err = config.Load("", []string{"PORT=4000"}, config.Overrides{Listen: "127.0.0.1:5000"})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Server.Port != 5000 {
			t.Errorf("port %d, want 5000 from the flag", cfg.Server.Port)
		}
	})
	t.Run("named by flag or MIKROBILL_ENV_FILE", func(t *testing.T) {
		t.Chdir(t.TempDir())
		path := filepath.Join(t.TempDir(), "legacy.env")
		if err := os.WriteFile(path, dotenv, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			env []string
			o   config.Overrides
		}{{nil, config.Overrides{EnvFile: path}}, {[]string{"MIKROBILL_ENV_FILE=" + path}, config.Overrides{}}} {
			cfg, err := config.Load("", c.env, c.o)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.EnvFile != path || !cfg.UsesPostgres() || !cfg.UsesRedis() {
				t.Errorf("EnvFile %q, postgres %v, redis %v; want %q, true, true", cfg.EnvFile, cfg.UsesPostgres(), cfg.UsesRedis(), path)
			}
		}
	})
	t.Run("named file that does not exist", func(t *testing.T) {
		t.Chdir(t.TempDir())
		_, err := config.Load("", nil, config.Overrides{EnvFile: "/no/such/.env"})
		if err == nil || !strings.Contains(err.Error(), "/no/such/.env does not exist") {
			t.Errorf("Load error = %v, want one saying /no/such/.env does not exist", err)
		}
	})
	t.Run("bad line", func(t *testing.T) {
		dir := t.TempDir()
		bad := slices.Concat(dotenv, []byte("oops\n"))
		if err := os.WriteFile(filepath.Join(dir, ".env"), bad, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		_, err := config.Load("", nil, config.Overrides{})
		want := ".env:" + strconv.Itoa(len(legacyDotEnv)+1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load error = %v, want one naming %s", err, want)
		}
	})
	t.Run("bad value names the file's variable", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("PORT=eighty\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		_, err := config.Load("", nil, config.Overrides{})
		if err == nil || !strings.Contains(err.Error(), "PORT") {
			t.Errorf("Load error = %v, want one naming PORT", err)
		}
	})
}
