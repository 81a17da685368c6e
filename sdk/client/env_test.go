package client

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPluginEnv: a plugin's environment is PATH, HOME, its data directory
// and TZ, and nothing else of the host's (the host, `mikrobill plugin
// validate` and the conformance kit launch with it).
func TestPluginEnv(t *testing.T) {
	t.Setenv("JWT_SECRET", "the-host-secret")
	t.Setenv("PATH", "/opt/bin:/usr/bin")
	t.Setenv("TZ", "Asia/Jakarta")
	want := []string{"PATH=/opt/bin:/usr/bin", "HOME=/data/p", "MIKROBILL_PLUGIN_DATA_DIR=/data/p", "TZ=Asia/Jakarta"}
	if diff := cmp.Diff(want, PluginEnv("/data/p")); diff != "" {
		t.Errorf("PluginEnv (-want +got):\n%s", diff)
	}

	t.Setenv("PATH", "")
	t.Run("no PATH, no TZ", func(t *testing.T) {
		unsetenv(t, "TZ")
		want := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/d", "MIKROBILL_PLUGIN_DATA_DIR=/d"}
		if diff := cmp.Diff(want, PluginEnv("/d")); diff != "" {
			t.Errorf("PluginEnv (-want +got):\n%s", diff)
		}
	})
}

// unsetenv removes key from the environment for the test and restores it
// after.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "") // registers the restore
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}
