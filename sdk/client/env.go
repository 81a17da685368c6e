package client

import (
	"os"

	"github.com/mikrobill/mikrobill/sdk/internal/wire"
)

// defaultPath is a plugin's PATH when the host has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// PluginEnv is a plugin's whole environment besides the handshake variables
// Start adds: PATH (the host's, or /usr/local/bin:/usr/bin:/bin), HOME and
// MIKROBILL_PLUGIN_DATA_DIR set to dataDir, and TZ when the host has it.
// Nothing else of the host's environment, so none of its secrets, reaches a
// plugin: settings and secrets travel through Configure only. The host, the
// `mikrobill plugin validate` command and the conformance kit all launch
// plugins with it (Config.Env).
func PluginEnv(dataDir string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := []string{"PATH=" + path, "HOME=" + dataDir, wire.EnvDataDir + "=" + dataDir}
	if tz, ok := os.LookupEnv("TZ"); ok {
		env = append(env, "TZ="+tz)
	}
	return env
}
