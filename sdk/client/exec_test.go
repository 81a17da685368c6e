package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestStartNeverRunsAFileSwappedInAfterTheCheck: while a goroutine keeps
// swapping another script in at the executable's path (and the approved one
// back), every launch either refuses the file it opened or runs the
// approved one; the swapped-in script never runs. Start used to hash the
// path and execute the path afterwards, and ran the other script in about
// one of seven launches that passed the check.
func TestStartNeverRunsAFileSwappedInAfterTheCheck(t *testing.T) {
	dir := t.TempDir()
	goodLog, evilLog := filepath.Join(dir, "good.log"), filepath.Join(dir, "evil.log")
	good := []byte("#!/bin/sh\necho ran >> " + goodLog + "\nexit 0\n")
	evil := []byte("#!/bin/sh\necho ran >> " + evilLog + "\nexit 0\n")
	goodSrc, evilSrc := filepath.Join(dir, "good.sh"), filepath.Join(dir, "evil.sh")
	for path, raw := range map[string][]byte{goodSrc: good, evilSrc: evil} {
		if err := os.WriteFile(path, raw, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	folder := filepath.Join(dir, "plugin")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(folder, "mikrobill-plugin-swap")
	// put replaces the executable at once, as an installer (or an attacker
	// with write access to the folder) does: a new file renamed over it.
	put := func(src string) error {
		tmp := exe + ".new"
		_ = os.Remove(tmp)
		if err := os.Link(src, tmp); err != nil {
			return err
		}
		return os.Rename(tmp, exe)
	}
	if err := put(goodSrc); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(good)

	launch := func() error {
		proc, err := Start(context.Background(), Config{
			Name: "swap", Path: exe, SHA256: sum[:], SocketDir: shortDir(t),
			Env: []string{"PATH=/usr/bin:/bin"}, StartTimeout: 10 * time.Second,
		})
		if err == nil {
			proc.Kill()
			return errors.New("a script without a handshake started")
		}
		return err
	}
	// The first launch, before any swap, runs the approved script.
	if err := launch(); !errors.Is(err, ErrHandshake) {
		t.Fatalf("first launch = %v, want a handshake error (the approved script runs and exits)", err)
	}

	stop := make(chan struct{})
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			src := goodSrc
			if i%2 == 0 {
				src = evilSrc
			}
			if err := put(src); err != nil {
				t.Errorf("swap: %v", err)
				return
			}
			swaps.Add(1)
		}
	}()
	// Launch until 40 got past the check (a refusal is quick, so counting
	// launches alone could end before the race shows).
	var refused, ran int
	for ran < 40 && refused < 1000 {
		err := launch()
		switch {
		case errors.Is(err, ErrChecksumMismatch):
			refused++
		case errors.Is(err, ErrHandshake):
			ran++
		default:
			t.Fatalf("launch = %v, want a checksum mismatch or the approved script's failed handshake", err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d swaps; %d launches refused the file they opened, %d got past the check", swaps.Load(), refused, ran)

	if raw, err := os.ReadFile(evilLog); err == nil {
		t.Errorf("the swapped-in script ran %d time(s); only the file that was hashed may run", strings.Count(string(raw), "ran"))
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(goodLog); strings.Count(string(raw), "ran") != 1+ran {
		t.Errorf("the approved script ran %d time(s), want %d (once per launch that passed the check)", strings.Count(string(raw), "ran"), 1+ran)
	}
}

// TestStartRunsShebangScripts: a plugin whose executable is a script (a
// Node.js or Python plugin's wrapper) starts through the descriptor the
// host verified; the script finds its folder by resolving its own path.
func TestStartRunsShebangScripts(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	folder := t.TempDir()
	out := filepath.Join(folder, "benchplugin")
	if raw, err := exec.Command("go", "build", "-o", out, "./testdata/benchplugin").CombinedOutput(); err != nil {
		t.Fatalf("go build benchplugin: %v\n%s", err, raw)
	}
	wrapper := []byte("#!/bin/sh\nexec \"$(dirname \"$(readlink -f \"$0\")\")/benchplugin\"\n")
	exe := filepath.Join(folder, "mikrobill-plugin-script")
	if err := os.WriteFile(exe, wrapper, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wrapper)
	proc, err := Start(context.Background(), Config{
		Name: "script", Path: exe, SHA256: sum[:], SocketDir: shortDir(t),
		Env: []string{"PATH=/usr/bin:/bin"},
	})
	if err != nil {
		t.Fatalf("Start of a shebang script: %v", err)
	}
	defer proc.Kill()
	if got := proc.Describe().Name; got != "benchplugin" {
		t.Errorf("Describe().Name = %q, want benchplugin", got)
	}
}

// TestStartRefusesANamedPipe: a named pipe at the executable's path is
// refused at once; opening it never blocks the host.
func TestStartRefusesANamedPipe(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "mikrobill-plugin-fifo")
	if err := syscall.Mkfifo(exe, 0o755); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Start(context.Background(), Config{Name: "fifo", Path: exe, SocketDir: shortDir(t)})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Start = %v, want an error saying it is not a regular file", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Start blocked on a named pipe")
	}
}

// shortDir is a socket directory short enough for unix socket paths.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestStartEndsWithItsContext: a launch whose context ends while the plugin
// has not answered the handshake kills the process and returns at once,
// saying why, instead of waiting out the start timeout; with its context
// already ended it starts no process at all. An instance being stopped
// relies on this: no plugin process outlives the stop.
func TestStartEndsWithItsContext(t *testing.T) {
	folder := t.TempDir()
	pidFile := filepath.Join(folder, "pid")
	script := []byte("#!/bin/sh\necho $$ > " + pidFile + "\nexec sleep 60\n")
	exe := filepath.Join(folder, "mikrobill-plugin-mute")
	if err := os.WriteFile(exe, script, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(script)
	cfg := Config{Name: "mute", Path: exe, SHA256: sum[:], SocketDir: shortDir(t), StartTimeout: time.Minute,
		Env: []string{"PATH=/usr/bin:/bin"}}

	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Start(ctx, cfg)
		done <- err
	}()
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		raw, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		time.Sleep(10 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the plugin process never started")
	}
	cancel(errors.New("the host is shutting down"))
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "launch of plugin mute was given up before it was ready: the host is shutting down") {
			t.Errorf("Start = %v; want the launch given up, with the context's cause", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Start waited for the handshake after its context ended")
	}
	if raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(raw), ") Z ") {
		t.Errorf("process %d still runs after the launch was given up: %s", pid, raw)
	}

	os.Remove(pidFile)
	if _, err := Start(ctx, cfg); err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Start with an ended context = %v; want the launch given up", err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("Start with an ended context started the process")
	}
}
