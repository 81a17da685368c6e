package client

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPluginProcessIsNamedAfterThePlugin: a plugin's process is called
// after the plugin (/proc/PID/comm, what top, ps -C and pgrep show: its
// first 15 bytes), not after the descriptor it was executed through ("4",
// as every plugin was called before), and it still runs the file the host
// verified (/proc/PID/exe). A name that cannot be a file name still
// starts, called after the descriptor.
func TestPluginProcessIsNamedAfterThePlugin(t *testing.T) {
	folder := t.TempDir()
	exe := filepath.Join(folder, "mikrobill-plugin-bench")
	if raw, err := exec.Command("go", "build", "-o", exe, "./testdata/benchplugin").CombinedOutput(); err != nil {
		t.Fatalf("go build benchplugin: %v\n%s", err, raw)
	}
	raw, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	for _, tc := range []struct{ name, comm string }{
		{"payment-acme", "payment-acme"},
		{"payment-midtrans", "payment-midtran"}, // the kernel keeps 15 bytes
		{"acme/pay", ""},                        // not a file name: a descriptor number
	} {
		proc, err := Start(context.Background(), Config{
			Name: tc.name, Path: exe, SHA256: sum[:], SocketDir: shortDir(t),
			Env: []string{"PATH=/usr/bin:/bin"},
		})
		if err != nil {
			t.Fatalf("Start %q: %v", tc.name, err)
		}
		pid := strconv.Itoa(proc.Pid())
		comm, err := os.ReadFile("/proc/" + pid + "/comm")
		if err != nil {
			proc.Kill()
			t.Fatal(err)
		}
		running, err := os.Readlink("/proc/" + pid + "/exe")
		proc.Kill()
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSuffix(string(comm), "\n")
		if tc.comm != "" && got != tc.comm {
			t.Errorf("plugin %q: the process is called %q, want %q", tc.name, got, tc.comm)
		}
		if _, err := strconv.Atoi(got); tc.comm == "" && err != nil {
			t.Errorf("plugin %q: the process is called %q, want the number of the descriptor it was executed through", tc.name, got)
		}
		if running != exe {
			t.Errorf("plugin %q: the process runs %s, want the verified file %s", tc.name, running, exe)
		}
	}
}
