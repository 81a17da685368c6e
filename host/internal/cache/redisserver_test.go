package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"
)

// envRedisURL names the shared Redis server the Redis tests also run
// against when set (CI: redis://127.0.0.1:6379/0).
const envRedisURL = "MIKROBILL_TEST_REDIS_URL"

func TestMain(m *testing.M) {
	// go-redis logs each failed dial to stderr; the tests make many on
	// purpose.
	RouteRedisLogs(hclog.NewNullLogger())
	os.Exit(m.Run())
}

// redisServer is a redis-server process of the test's own, without
// persistence, on 127.0.0.1.
type redisServer struct {
	t    *testing.T
	port int
	args []string
	mu   sync.Mutex
	proc *redisProc // nil while stopped
}

type redisProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been reaped
}

func redisServerPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	const p = "/usr/bin/redis-server"
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("redis-server not found on PATH nor at %s: install Redis 7 (apt-get install redis-server); these tests run a server of their own", p)
	}
	return p
}

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRedis starts a redis-server on a free port (or port, if not 0), waits
// until it answers PING, and kills it when the test ends. extra are more
// server arguments (say, --requirepass).
func startRedis(t *testing.T, port int, extra ...string) *redisServer {
	t.Helper()
	if port == 0 {
		port = freePort(t)
	}
	s := &redisServer{t: t, port: port, args: extra}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) url() string { return "redis://127.0.0.1:" + strconv.Itoa(s.port) + "/0" }

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start (re)starts the server on its port.
func (s *redisServer) start() {
	s.t.Helper()
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.t.TempDir(),
	}, s.args...)
	cmd := exec.Command(redisServerPath(s.t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	p := &redisProc{cmd: cmd, exited: make(chan struct{})}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(p.exited) }()

	deadline := time.Now().Add(10 * time.Second)
	for !pingRaw(s.addr(), requirePass(s.args)) {
		select {
		case <-p.exited:
			s.t.Fatalf("redis-server on port %d exited at start (%v):\n%s", s.port, waitErr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			s.t.Fatalf("redis-server on port %d did not answer PING within 10s", s.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
}

// kill kills the server (as a crash would: no shutdown, no save) and waits
// for it to exit.
func (s *redisServer) kill() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("redis-server on port %d did not exit after SIGKILL", s.port)
	}
}

// requirePass returns the --requirepass value among args, if any.
func requirePass(args []string) string {
	for i, a := range args {
		if a == "--requirepass" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// pingRaw reports whether a server answers PING at addr (authenticating with
// password first, if any), speaking RESP directly.
func pingRaw(addr, password string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	cmd := "PING\r\n"
	want := "+PONG"
	if password != "" {
		cmd = "AUTH " + password + "\r\n" + cmd
		want = "+OK\r\n+PONG"
	}
	if _, err := c.Write([]byte(cmd)); err != nil {
		return false
	}
	buf := make([]byte, 64)
	var got []byte
	for !bytes.Contains(got, []byte(want)) {
		n, err := c.Read(buf)
		if err != nil {
			return false
		}
		got = append(got, buf[:n]...)
	}
	return true
}

// uniquePrefix is a key prefix no other test (nor run) uses.
func uniquePrefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return fmt.Sprintf("mikrobill-test:%s:%s:", name, hex.EncodeToString(b))
}

// directClient is a go-redis client of the test's own, to look behind the
// cache's back. It removes the keys under prefix when the test ends.
func directClient(t *testing.T, url, prefix string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.MaxRetries = -1
	c := redis.NewClient(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if prefix != "" {
			// The rate limiter's keys sit under redis_rate's own "rate:".
			for _, p := range []string{prefix, "rate:" + prefix} {
				if keys, err := c.Keys(ctx, p+"*").Result(); err == nil && len(keys) > 0 {
					c.Del(ctx, keys...)
				}
			}
		}
		c.Close()
	})
	return c
}
