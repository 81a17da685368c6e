package cli

import (
	"os/exec"
	"testing"
	"time"
)

// TestReadMachineCPU checks the benchmark's accounting of the machine's
// CPU: this process's time and its children's are counted where they
// belong, and the cores' busy time holds them.
func TestReadMachineCPU(t *testing.T) {
	before, ok := readMachineCPU()
	if !ok {
		t.Fatal("/proc could not be read")
	}
	// A child that spins until killed.
	child := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, ppid, cpu, ok := procCPU(child.Process.Pid)
		if !ok || ppid == 0 {
			t.Fatalf("the child's /proc/%d/stat could not be read", child.Process.Pid)
		}
		if cpu >= 200*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the spinning child used %s of CPU in 30 s", cpu)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// This process spins too, 200 ms of its own CPU time.
	start := processCPU()
	for processCPU()-start < 200*time.Millisecond {
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
	}
	after, ok := readMachineCPU()
	if !ok {
		t.Fatal("/proc could not be read")
	}
	d := after.sub(before)
	if d.children < 200*time.Millisecond {
		t.Errorf("children: %s; the spinning child alone used 200 ms", d.children)
	}
	if d.self < 150*time.Millisecond {
		t.Errorf("this process: %s; it spun for 200 ms of CPU", d.self)
	}
	if d.busy < d.self+d.children-50*time.Millisecond {
		t.Errorf("the cores were busy %s, less than this process (%s) and its child (%s)", d.busy, d.self, d.children)
	}
}
