package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PGServer is a PostgreSQL server of a test's own: its own data directory
// (initdb) and port, started and stopped with pg_ctl, so a test may restart
// or stop it without touching the machine's shared server. Tests that need
// it call NewPGServer; it fails (never skips) when CI is set and the
// PostgreSQL server binaries are missing.
type PGServer struct {
	t       testing.TB
	bin     string
	dataDir string
	sockDir string
	port    int
	// runAs is "postgres" when the test runs as root (initdb and postgres
	// refuse to run as root), empty otherwise.
	runAs string
}

// pgBinDir finds the PostgreSQL server binaries: $PG_BINDIR, pg_config
// --bindir, or the newest /usr/lib/postgresql/*/bin.
func pgBinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (pg_ctl, initdb) found: install postgresql or set PG_BINDIR")
}

// NewPGServer initialises and starts a PostgreSQL server on a free loopback
// port; it is stopped (by the pid in its data directory) when the test ends.
func NewPGServer(t testing.TB) *PGServer {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	root, err := os.MkdirTemp("", "mikrobill-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &PGServer{t: t, bin: bin, dataDir: filepath.Join(root, "data"), sockDir: filepath.Join(root, "sock")}
	if os.Geteuid() == 0 {
		s.runAs = "postgres"
		u, err := user.Lookup(s.runAs)
		if err != nil {
			t.Fatalf("running as root needs the postgres user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{root, s.sockDir} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	} else if err := os.MkdirAll(s.sockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop("immediate")
		_ = os.RemoveAll(root)
	})
	if out, err := s.cmd("initdb", "-D", s.dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.port = freePort(t)
	s.Start()
	return s
}

func (s *PGServer) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// URL is the server's connection URL for database db.
func (s *PGServer) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Port is the server's TCP port.
func (s *PGServer) Port() int { return s.port }

// Start starts the server (again) on its port and waits until it accepts
// connections.
func (s *PGServer) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", s.port, s.sockDir)
	cmd := s.cmd("pg_ctl", "-D", s.dataDir, "-o", opts, "-l", filepath.Join(filepath.Dir(s.dataDir), "server.log"), "-w", "-t", "60", "start")
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(s.dataDir), "server.log"))
		s.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("postgres on port %d does not accept connections: %v", s.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server; mode is pg_ctl's: "fast" closes sessions (clients
// see 57P01, admin shutdown), "immediate" is a crash.
func (s *PGServer) Stop(mode string) {
	s.t.Helper()
	if out, err := s.stop(mode); err != nil {
		s.t.Fatalf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
}

func (s *PGServer) stop(mode string) ([]byte, error) {
	if _, err := os.Stat(filepath.Join(s.dataDir, "postmaster.pid")); err != nil {
		return nil, nil // not running
	}
	return s.cmd("pg_ctl", "-D", s.dataDir, "-m", mode, "-w", "-t", "60", "stop").CombinedOutput()
}

// Restart stops the server with mode and starts it again.
func (s *PGServer) Restart(mode string) {
	s.t.Helper()
	s.Stop(mode)
	s.Start()
}

// CreateDB creates a database on the server and returns its URL.
func (s *PGServer) CreateDB(name string) string {
	s.t.Helper()
	out, err := s.cmd("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres", name).CombinedOutput()
	if err != nil {
		s.t.Fatalf("createdb %s: %v\n%s", name, err, out)
	}
	return s.URL(name)
}

// freePort asks the OS for a free loopback TCP port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
