package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestHostStartsConsistentAfterAKilledUpgrade kills the real mikrobill
// command (SIGKILL, through the installer's test hook) at each step of an
// upgrade made on the plugin directory, then starts the host on it: the
// host finishes or undoes the upgrade and runs the plugin in the version
// the folder and plugins.lock agree on.
func TestHostStartsConsistentAfterAKilledUpgrade(t *testing.T) {
	bin := testenv.Build(t, "host/cmd/mikrobill")
	src := installSource(t, testenv.Plugin{Name: "extra", Version: "1.0.0"}, testenv.Plugin{Name: "extra", Version: "2.0.0"})
	for _, tc := range []struct{ step, want string }{{"kept", "1.0.0"}, {"placed", "2.0.0"}} {
		t.Run(tc.step, func(t *testing.T) {
			d := testenv.NewPluginDir(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			if code, out, errOut := run(t, "plugin", "install", "extra@1.0.0", "--from", src, "--offline", "--plugin-dir", d.Dir, "--data-dir", dataDir); code != 0 {
				t.Fatalf("install: %d %s %s", code, out, errOut)
			}
			cmd := exec.Command(bin, "plugin", "upgrade", "extra@2.0.0", "--from", src, "--offline", "--plugin-dir", d.Dir, "--data-dir", dataDir)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), pluginstall.CrashEnv + "=" + tc.step}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !strings.Contains(ee.ProcessState.String(), "killed") {
				t.Fatalf("upgrade: %v (want killed)\n%s", err, out)
			}
			h := startHostIn(t, d.Dir, dataDir)
			var st struct {
				Plugins []struct{ Name, Version, State string } `json:"plugins"`
			}
			deadline := time.Now().Add(10 * time.Second)
			got := ""
			for time.Now().Before(deadline) {
				h.getJSON("/health/plugins", &st)
				if len(st.Plugins) == 1 {
					got = st.Plugins[0].Version + " " + st.Plugins[0].State
					if got == tc.want+" running" {
						break
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got != tc.want+" running" {
				t.Errorf("after a kill at %s the host runs extra %q, want %s running", tc.step, got, tc.want)
			}
			if !strings.Contains(h.stderr.String(), "an interrupted plugin action was") {
				t.Errorf("the host's log does not say it finished an interrupted action")
			}
			if _, err := os.Stat(filepath.Join(d.Dir, ".install.journal.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the journal is still there: %v", err)
			}
		})
	}
}
