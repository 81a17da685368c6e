// Package cli is the mikrobill command and its subcommands: serve (run the
// host), plugin (list, inspect, validate and lock plugins; install,
// upgrade, roll back and remove them: plugin_install.go, with the
// marketplaces plugged in at plugin_sources.go), routers
// (compare the routers with the store and repair the drift), config (check
// and show the configuration), migrate (bring the database schema up to
// date), user (the admin UI's users), hotspot (write a router's hotspot
// login page), store (copy the embedded SQLite store into PostgreSQL),
// audit (verify the audit plugin's log, prove an event is in it, check a
// proof offline), marketplace (publish plugins in a TUF marketplace, trust
// marketplaces) and version. cmd/mikrobill only calls Execute.
//
// newRoot registers the commands; each is in the file of its name
// (serve.go, plugin.go, ...). serve.go is the composition root: it starts
// the host's parts in order and stops them in reverse (closers.go).
package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

// globals are the flags every command takes.
type globals struct {
	configFile string
	envFile    string
	pluginDir  string
	dataDir    string
	logLevel   string
	logJSON    bool
	stdout     io.Writer
	stderr     io.Writer
	environ    []string
	// serving, when set, is told the address serve listens on (tests).
	serving func(addr string)
}

// Execute runs the command line and returns the process exit code.
func Execute(args []string, stdout, stderr io.Writer, environ []string) int {
	// Loggers write from plugin goroutines too: serialise the writers.
	stdout, stderr = &syncWriter{w: stdout}, &syncWriter{w: stderr}
	g := &globals{stdout: stdout, stderr: stderr, environ: environ}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		var ec exitCoder
		if asExit(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(stderr, "mikrobill:", msg)
			}
			return ec.ExitCode()
		}
		fmt.Fprintln(stderr, "mikrobill:", err)
		return 1
	}
	return 0
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "mikrobill",
		Short: "Billing for ISPs and hotspot operators who run MikroTik routers",
		Long: `mikrobill is a billing system for ISPs and hotspot operators who run MikroTik
routers. The host runs plugins (routers, payment gateways, WhatsApp, audit)
as separate processes and serves the admin UI and API.

Configuration comes from flags, then environment variables, then the file
(mikrobill.hcl), then defaults. The environment variables of the old Node.js
system (NODE_ENV, HOST, PORT, DB_*, REDIS_*, JWT_SECRET, DEBUG=plugin:*, ...)
keep working, and its .env file is read from the working directory as dotenv
did: variables already in the environment win over the file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "", "configuration file (default: mikrobill.hcl in the working directory, if present, or $MIKROBILL_CONFIG)")
	pf.StringVar(&g.envFile, "env-file", "", "dotenv file of KEY=VALUE lines applied under the process environment (default: .env in the working directory, if present, or $MIKROBILL_ENV_FILE)")
	pf.StringVar(&g.pluginDir, "plugin-dir", "", "plugin directory (default: \"plugins\" beside the mikrobill executable, or $MIKROBILL_PLUGIN_DIR)")
	pf.StringVar(&g.dataDir, "data-dir", "", "data directory (default: \"data\", or $MIKROBILL_DATA_DIR)")
	pf.StringVar(&g.logLevel, "log-level", "", "log level: trace, debug, info, warn or error (default info, or $MIKROBILL_LOG_LEVEL)")
	pf.BoolVar(&g.logJSON, "log-json", false, "log JSON lines instead of text")

	root.AddCommand(newServe(g), newPlugin(g), newRouters(g), newVersion(g), newConfig(g), newMigrate(g), newUser(g), newHotspot(g), newStore(g), newAudit(g))
	root.AddCommand(newMarketplace(g))
	return root
}

// load reads the configuration with the global flags applied.
func (g *globals) load(cmd *cobra.Command, extra config.Overrides) (*config.Config, error) {
	o := g.overrides(cmd)
	o.Listen = extra.Listen
	return config.Load(g.configFile, g.environ, o)
}

// logger returns the root logger. Sub-loggers have independent levels so
// plugin loggers can be turned to debug alone (DEBUG=plugin:*).
func (g *globals) logger(cfg *config.Config) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:              "mikrobill",
		Level:             hclog.LevelFromString(strings.ToLower(cfg.LogLevel)),
		JSONFormat:        cfg.LogJSON,
		Output:            g.stderr,
		IndependentLevels: true,
	})
}

// exitCoder is an error that sets the exit code.
type exitCoder interface {
	error
	ExitCode() int
}

type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }

func asExit(err error, target *exitCoder) bool {
	if ec, ok := err.(exitCoder); ok {
		*target = ec
		return true
	}
	return false
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
