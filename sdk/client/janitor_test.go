package client

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

type group struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startGroup starts a sleeping process in a process group of its own, as a
// plugin runs.
func startGroup(t *testing.T) *group {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &group{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(g.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-g.done })
	return g
}

func (g *group) pid() int { return g.cmd.Process.Pid }

func exited(g *group, within time.Duration) bool {
	select {
	case <-g.done:
		return true
	case <-time.After(within):
		return false
	}
}

func TestJanitorCleansUpWhenTheHostDies(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "run")
	runtimeDir := filepath.Join(base, "1234")
	if err := os.MkdirAll(filepath.Join(runtimeDir, "plugin-dir1"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(runtimeDir, "plugin-dir1", "plugin1"), nil, 0o600)
	// A directory to remove when empty that is not: it stays.
	busy := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(busy, "5678"), 0o700); err != nil {
		t.Fatal(err)
	}
	tracked, untracked := startGroup(t), startGroup(t)

	j, err := StartJanitor(runtimeDir, base, busy)
	if err != nil {
		t.Fatal(err)
	}
	j.Track(tracked.pid())
	j.Track(untracked.pid())
	j.Untrack(untracked.pid())
	// The host dies: its end of the pipe closes without "bye".
	j.mu.Lock()
	j.stdin.Close()
	j.stdin = nil
	j.mu.Unlock()

	if !exited(tracked, 5*time.Second) {
		t.Error("a tracked plugin survived the host")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(base); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runtime directory, and the one that held it, were not removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(busy, "5678")); err != nil {
		t.Errorf("a directory that was not empty was removed: %v", err)
	}
	if exited(untracked, 200*time.Millisecond) {
		t.Error("an untracked process group was killed")
	}
}

func TestJanitorLeavesEverythingOnBye(t *testing.T) {
	runtimeDir := t.TempDir()
	p := startGroup(t)
	j, err := StartJanitor(runtimeDir)
	if err != nil {
		t.Fatal(err)
	}
	j.Track(p.pid())
	j.Close()
	time.Sleep(200 * time.Millisecond)
	if exited(p, 100*time.Millisecond) {
		t.Error("the janitor killed a plugin after a normal stop")
	}
	if _, err := os.Stat(runtimeDir); err != nil {
		t.Errorf("the janitor removed the runtime directory after a normal stop: %v", err)
	}
}
