package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// envRedis names the Redis server the tests that need one use (CI:
// redis://127.0.0.1:6379/0).
const envRedis = "MIKROBILL_TEST_REDIS_URL"

// TestLegacyDotEnvStartsOnPostgresAndRedis puts an old system's .env (DB_*,
// REDIS_*, secrets, no new variable) in the working directory of the
// mikrobill binary: the host migrates and serves on that PostgreSQL
// database and that Redis, a user created through the same .env signs in,
// and the sign-in's rate limit lands in Redis under the host's prefix.
func TestLegacyDotEnvStartsOnPostgresAndRedis(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" || os.Getenv(envRedis) == "" {
		t.Skipf("%s and %s must both be set (CI sets them; .ci/run shows how)", storetest.EnvPostgres, envRedis)
	}
	pg, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := url.Parse(os.Getenv(envRedis))
	if err != nil {
		t.Fatalf("%s: %v", envRedis, err)
	}
	rdb := redis.NewClient(mustRedisOptions(t, os.Getenv(envRedis)))
	defer rdb.Close()
	pingCtx, cancelPing := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelPing()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		t.Fatalf("%s is set but Redis does not answer: %v", envRedis, err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "mbtest-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})

	pgPass, _ := pg.User.Password()
	rdPass, _ := rd.User.Password()
	dotenv := strings.Join([]string{
		"# the old system's .env",
		"NODE_ENV=development",
		"HOST=127.0.0.1",
		"PORT=3000",
		"DB_HOST=" + pg.Hostname(),
		"DB_PORT=" + pg.Port(),
		"DB_NAME=" + strings.TrimPrefix(pg.Path, "/"),
		"DB_USER=" + pg.User.Username(),
		"DB_PASSWORD=" + pgPass,
		"REDIS_HOST=" + rd.Hostname(),
		"REDIS_PORT=" + rd.Port(),
		"REDIS_PASSWORD=" + rdPass,
		"JWT_SECRET='legacy-jwt-secret-0123456789abcdef'",
		`COOKIE_SECRET="legacy-cookie-secret-0123456789abcdef"`,
		"RATE_LIMIT_MAX=100",
		"DEBUG=plugin:*",
		"",
	}, "\n")
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(work, "data")
	inWork := func(cmd *exec.Cmd) {
		cmd.Dir = work
		cmd.Env = append(cmd.Env, "MIKROBILL_CACHE_PREFIX="+prefix)
	}

	// `config check` reads the same file and says where the data goes.
	bin := testenv.Build(t, "host/cmd/mikrobill")
	check := exec.Command(bin, "config", "check")
	check.Env = []string{"PATH=" + os.Getenv("PATH")}
	inWork(check)
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), "database postgres, cache redis") || !strings.Contains(string(out), ".env") {
		t.Fatalf("config check: %v\n%s", err, out)
	}

	// The bootstrap admin goes into PostgreSQL (migrating it first).
	create := exec.Command(bin, "user", "create", "--username", "ana", "--role", "admin", "--password-stdin", "--data-dir", dataDir)
	create.Env = []string{"PATH=" + os.Getenv("PATH")}
	inWork(create)
	create.Stdin = strings.NewReader("correct horse battery\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}

	h := startRealHost(t, testenv.NewPluginDir(t).Dir, inWork, func(cmd *exec.Cmd) {
		for i, a := range cmd.Args {
			if a == "--data-dir" {
				cmd.Args[i+1] = dataDir
			}
		}
		// Only the .env's secrets.
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "JWT_SECRET=") })
	})
	for _, w := range []string{"env_file=.env", "store open: driver=postgres", "cache open: mode=redis"} {
		if !strings.Contains(h.logs.String(), w) {
			t.Errorf("the host's log does not say %q:\n%s", w, h.logs.String())
		}
	}

	var detailed struct {
		Components map[string]struct {
			Status string `json:"status"`
			Driver string `json:"driver"`
		} `json:"components"`
	}
	resp, err := http.Get("http://" + h.addr + "/health/detailed")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&detailed)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if c := detailed.Components["store"]; c.Driver != "postgres" || c.Status != "healthy" {
		t.Errorf("store component %+v, want healthy on postgres", c)
	}
	if c := detailed.Components["cache"]; c.Driver != "redis" || c.Status != "healthy" {
		t.Errorf("cache component %+v, want healthy on redis", c)
	}

	// Sign in as the user the .env's database holds.
	body, _ := json.Marshal(map[string]string{"username": "ana", "password": "correct horse battery"})
	resp, err = http.Post("http://"+h.addr+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		Token string `json:"token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || login.Token == "" {
		t.Fatalf("login: HTTP %d, token %q", resp.StatusCode, login.Token)
	}

	// The schema and River's tables are in that database. (The minute
	// starts here: building the binary above may take one under load.)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var users, riverTables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM users WHERE username = 'ana'").Scan(&users); err != nil || users != 1 {
		t.Errorf("users named ana in PostgreSQL: %d (%v), want 1", users, err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'river_job'").Scan(&riverTables); err != nil || riverTables != 1 {
		t.Errorf("river_job tables in PostgreSQL: %d (%v), want 1", riverTables, err)
	}
	// The sign-in's rate limit is shared through Redis (redis_rate puts
	// "rate:" before the host's key).
	keys, err := rdb.Keys(ctx, "rate:"+prefix+"ratelimit:*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("rate-limit keys under %q in Redis: %v (%v), want at least one", prefix, keys, err)
	}
}

func mustRedisOptions(t *testing.T, u string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s: %v", envRedis, err)
	}
	return o
}
