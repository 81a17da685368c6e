package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/version"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/client"
)

func newPlugin(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "List, inspect, validate, test, lock, search, install, upgrade, roll back and remove plugins",
		Long: `Plugins live in the plugin directory, one folder each, holding plugin.json and
the executable. The host runs only plugins whose folders match plugins.lock.
install, upgrade, rollback and remove check a plugin, lock it and hand it to
the running host (or change the plugin directory when no host runs); a
folder copied in by hand must be reviewed and locked with
` + "`mikrobill plugin lock`" + `.

list, inspect, validate and lock work on the plugin directory; test runs the
payment conformance checks against one plugin folder; search and info read
the trusted marketplaces (` + "`mikrobill marketplace add`" + `); status, restart,
disable and enable talk to a running host (--address, default from the
configuration). restart needs an operator's API token, disable and enable an
admin's: make one with ` + "`mikrobill user token --username NAME`" + ` and pass it
with --token or MIKROBILL_TOKEN.`,
	}
	cmd.AddCommand(newPluginList(g), newPluginInspect(g), newPluginValidate(g), newPluginTest(g), newPluginLock(g), newPluginStatus(g),
		newPluginAction(g, "restart", "Restart a plugin of the running host now",
			`restart asks the running host to stop the plugin gracefully and start it again.
It also closes an open circuit and restores the plugin's restart budget. It
needs an API token of an operator or admin (--token or MIKROBILL_TOKEN), and
is recorded in the audit log.`),
		newPluginAction(g, "disable", "Stop a plugin of the running host and keep it stopped",
			`disable asks the running host to stop the plugin and keep it stopped until it is
enabled or the host restarts; with --persist it stays disabled across
restarts (of every host on the database) until it is enabled. Calls to it
fail at once with "plugin unavailable".
It needs an admin's API token (--token or MIKROBILL_TOKEN), and is recorded in
the audit log.`),
		newPluginAction(g, "enable", "Start a disabled plugin of the running host",
			`enable asks the running host to start a plugin that was disabled, and forgets a
lasting disable (--persist). It needs an
admin's API token (--token or MIKROBILL_TOKEN), and is recorded in the audit
log.`),
	)
	cmd.AddCommand(newPluginSearch(g), newPluginInfo(g))
	cmd.AddCommand(newPluginInstallCommands(g)...)
	return cmd
}

// Lock states, as `plugin list` and `plugin inspect` show them.
const (
	lockOK        = "ok"
	lockNone      = "not locked"
	lockChanged   = "changed since locked"
	lockOld       = "old lock: lock again"
	lockRefused   = "cannot be locked"
	lockNoBuildOn = "no executable for "
)

// lockState says how a plugin's folder compares with plugins.lock: a state,
// the files that changed since it was locked (lockChanged), and why it
// cannot be locked (lockRefused).
func lockState(cfg *config.Config, lock *lockfile.File, m *manifest.Manifest) (string, []lockfile.Change, error) {
	rel, err := m.ExecutableFor(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return lockNoBuildOn + runtime.GOOS + "-" + runtime.GOARCH, nil, nil
	}
	e, ok := lock.Plugins[m.Name]
	switch {
	case !ok:
		return lockNone, nil, nil
	case e.Legacy():
		return lockOld, nil, nil
	}
	files, err := lockfile.Scan(m.Dir, plugins.LockSkip(cfg)...)
	if err != nil {
		return lockRefused, nil, err
	}
	if changes := e.Compare(files); len(changes) > 0 || e.Executable != rel {
		return lockChanged, changes, nil
	}
	return lockOK, nil, nil
}

func newPluginList(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the plugins in the plugin directory as a table",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			found, err := plugins.Discover(cfg.Plugins.Dir)
			if err != nil {
				return err
			}
			lock, err := lockfile.Read(cfg.Plugins.Dir)
			if err != nil {
				return err
			}
			type row struct {
				Name        string `json:"name"`
				Version     string `json:"version"`
				Kind        string `json:"kind"`
				Required    bool   `json:"required"`
				Environment string `json:"environment"`
				Lock        string `json:"lock"`
				// Changes are the files that changed since the plugin
				// was locked.
				Changes []lockfile.Change `json:"changes,omitempty"`
				Dir     string            `json:"dir"`
				Problem string            `json:"problem,omitempty"`
			}
			var rows []row
			for _, f := range found {
				r := row{Name: f.Name, Dir: f.Dir, Required: f.IsRequiredIn(cfg.Environment)}
				if pc := cfg.Plugin[f.Name]; pc != nil && pc.Required != nil {
					r.Required = *pc.Required
				}
				if f.Err != nil {
					r.Lock, r.Problem = "-", f.Err.Error()
				} else {
					m := f.Manifest
					r.Version, r.Kind, r.Required = m.Version, m.Kind, m.IsRequiredIn(cfg.Environment)
					if pc := cfg.Plugin[m.Name]; pc != nil && pc.Required != nil {
						r.Required = *pc.Required
					}
					r.Environment = strings.Join(m.Environment, ",")
					if r.Environment == "" {
						r.Environment = manifest.EnvAll
					}
					var err error
					r.Lock, r.Changes, err = lockState(cfg, lock, m)
					if err != nil {
						r.Problem = err.Error()
					}
				}
				rows = append(rows, r)
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"plugin_dir": cfg.Plugins.Dir, "plugins": rows})
			}
			if len(rows) == 0 {
				fmt.Fprintf(g.stdout, "no plugins in %s\n", cfg.Plugins.Dir)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tKIND\tREQUIRED\tENVIRONMENT\tLOCK\tPROBLEM")
			for _, r := range rows {
				problem := r.Problem
				if i := strings.IndexByte(problem, '\n'); i >= 0 {
					problem = problem[:i] + " ..."
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", r.Name, dash(r.Version), dash(r.Kind), r.Required, dash(r.Environment), r.Lock, problem)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, r := range rows {
				switch {
				case len(r.Changes) > 0:
					fmt.Fprintf(g.stdout, "\n%s changed since it was locked (review it, then `mikrobill plugin lock %s`):\n", r.Name, r.Name)
					printChanges(g.stdout, "  ", r.Changes)
				case r.Lock == lockOld:
					fmt.Fprintf(g.stdout, "\n%s: plugins.lock pins only its executable (written by an older mikrobill); review the folder %s, then `mikrobill plugin lock %s`\n", r.Name, r.Dir, r.Name)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// printChanges prints one change a line: "  modified  main.js (content)".
func printChanges(w io.Writer, indent string, changes []lockfile.Change) {
	for _, c := range changes {
		line := fmt.Sprintf("%s%-9s %s", indent, c.Kind, c.Path)
		if c.Detail != "" {
			line += " (" + c.Detail + ")"
		}
		fmt.Fprintln(w, line)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newPluginInspect(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show everything about one plugin: manifest, executable, lock state, settings schema",
		Long: `inspect shows a plugin's manifest, its executable and checksum, whether its
folder matches plugins.lock, and its settings. For an audit plugin it also
shows the public key its checkpoints are signed with, and its fingerprint,
to write down somewhere else: it starts the plugin on its data directory
(as ` + "`mikrobill audit verify`" + ` does) and reads the key from its health, and
shows the key the host pinned in its store beside it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			found, err := plugins.Discover(cfg.Plugins.Dir)
			if err != nil {
				return err
			}
			lock, err := lockfile.Read(cfg.Plugins.Dir)
			if err != nil {
				return err
			}
			for _, f := range found {
				if f.Name != args[0] {
					continue
				}
				if f.Err != nil {
					return &exitError{code: 1, msg: fmt.Sprintf("plugin %q in %s has problems:\n%v", f.Name, f.Dir, f.Err)}
				}
				return printInspect(g, cfg, lock, f.Manifest)
			}
			return &exitError{code: 1, msg: fmt.Sprintf("no plugin %q in %s; `mikrobill plugin list` shows what is there", args[0], cfg.Plugins.Dir)}
		},
	}
}

func printInspect(g *globals, cfg *config.Config, lock *lockfile.File, m *manifest.Manifest) error {
	w := g.stdout
	fmt.Fprintf(w, "name:             %s\nversion:          %s\nkind:             %s\n", m.Name, m.Version, m.Kind)
	if m.Description != "" {
		fmt.Fprintf(w, "description:      %s\n", m.Description)
	}
	fmt.Fprintf(w, "folder:           %s\n", m.Dir)
	required := m.IsRequiredIn(cfg.Environment)
	if pc := cfg.Plugin[m.Name]; pc != nil && pc.Required != nil {
		required = *pc.Required
	}
	if m.RequiredIn != nil {
		fmt.Fprintf(w, "required:         %v (in %s; this host: %s)\n", required, strings.Join(m.RequiredIn, ", "), cfg.Environment)
	} else {
		fmt.Fprintf(w, "required:         %v\n", required)
	}
	env := strings.Join(m.Environment, ", ")
	if env == "" {
		env = manifest.EnvAll
	}
	fmt.Fprintf(w, "environment:      %s (this host: %s)\n", env, cfg.Environment)
	fmt.Fprintf(w, "priority:         %d\nprotocols:        %v\n", m.Priority, m.ProtocolVersions)
	if m.MinHostVersion != "" {
		fmt.Fprintf(w, "min host version: %s (this host: %s)\n", m.MinHostVersion, version.Version)
	}
	if rel, err := m.ExecutableFor(runtime.GOOS, runtime.GOARCH); err != nil {
		fmt.Fprintf(w, "executable:       %v\n", err)
	} else {
		path := filepath.Join(m.Dir, rel)
		sum, err := client.FileSHA256(path)
		if err != nil {
			fmt.Fprintf(w, "executable:       %s (%v)\n", path, err)
		} else {
			fmt.Fprintf(w, "executable:       %s\nsha256:           %s\n", path, hex.EncodeToString(sum))
		}
	}
	state, changes, err := lockState(cfg, lock, m)
	if err != nil {
		state += ": " + err.Error()
	}
	fmt.Fprintf(w, "lock:             %s\n", state)
	printChanges(w, "                  ", changes)
	if len(m.Dependencies) > 0 {
		fmt.Fprintln(w, "dependencies:")
		for _, d := range m.Dependencies {
			if d.Version != "" {
				fmt.Fprintf(w, "  - %s %s\n", d.Name, d.Version)
			} else {
				fmt.Fprintf(w, "  - %s\n", d.Name)
			}
		}
	}
	if len(m.Routes) > 0 {
		fmt.Fprintln(w, "routes:")
		for _, r := range m.Routes {
			fmt.Fprintf(w, "  - %s /plugins/%s%s (auth: %s)\n", r.Method, m.Name, r.Path, r.Auth)
		}
	}
	if len(m.Events) > 0 {
		fmt.Fprintf(w, "events:           %s\n", strings.Join(m.Events, ", "))
	}
	if len(m.ConfigSchema) > 0 {
		var schema struct {
			Properties map[string]struct {
				Type    any    `json:"type"`
				Title   string `json:"title"`
				Enum    []any  `json:"enum"`
				Default any    `json:"default"`
			} `json:"properties"`
			Required []string `json:"required"`
		}
		if json.Unmarshal(m.ConfigSchema, &schema) == nil && len(schema.Properties) > 0 {
			fmt.Fprintln(w, "settings:")
			names := make([]string, 0, len(schema.Properties))
			for n := range schema.Properties {
				names = append(names, n)
			}
			sort.Strings(names)
			// A secret inside a field ("locations[].password") is named
			// after the field.
			secret := map[string][]string{}
			for _, s := range m.SecretFields() {
				top, rest, _ := strings.Cut(s, ".")
				top = strings.TrimSuffix(top, "[]")
				secret[top] = append(secret[top], rest)
			}
			for _, n := range names {
				p := schema.Properties[n]
				extra := ""
				if slices.Contains(schema.Required, n) {
					extra = " (required)"
				}
				if len(p.Enum) > 0 {
					vals := make([]string, len(p.Enum))
					for i, v := range p.Enum {
						b, _ := json.Marshal(v)
						vals[i] = string(b)
					}
					extra += " (one of " + strings.Join(vals, ", ") + ")"
				}
				if p.Default != nil {
					b, _ := json.Marshal(p.Default)
					extra += " (default " + string(b) + ")"
				}
				for _, inner := range secret[n] {
					if inner == "" {
						extra = " (secret)"
					} else {
						extra += fmt.Sprintf(" (secret: %s)", inner)
					}
				}
				fmt.Fprintf(w, "  - %s: %v%s  %s\n", n, p.Type, extra, p.Title)
			}
		}
	}
	if m.Kind == sdk.KindAudit {
		printAuditKey(g, cfg, m)
	}
	return nil
}

func newPluginValidate(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "validate PATH",
		Short: "Check a plugin folder: manifest, executable, and a real handshake",
		Long: `validate checks a plugin before it is installed or locked: PATH is the plugin's
folder (or its plugin.json). It reports every problem in the manifest at once,
checks the executable, starts it the way the host does (go-plugin handshake,
mutual TLS) and compares what Describe answers with the manifest. It exits
with status 1 when anything is wrong.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if filepath.Base(dir) == manifest.FileName {
				dir = filepath.Dir(dir)
			}
			problems := validatePlugin(cmd.Context(), g, dir, timeout)
			if len(problems) > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%s: %d problem(s):\n  %s", dir, len(problems), strings.Join(problems, "\n  "))}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", client.DefaultStartTimeout, "how long the plugin may take to start and answer Describe")
	return cmd
}

// validatePlugin returns every problem found, one line each.
func validatePlugin(ctx context.Context, g *globals, dir string, timeout time.Duration) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	var problems []string
	m, err := manifest.Load(dir)
	if err != nil {
		var ve *manifest.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				problems = append(problems, p.String())
			}
		} else {
			problems = append(problems, err.Error())
		}
	}
	if m == nil || m.Name == "" {
		return problems
	}
	if hp := m.CheckHost(version.Version, client.ProtocolVersions); len(hp) > 0 {
		for _, p := range hp {
			problems = append(problems, p.String())
		}
	}
	rel, err := m.ExecutableFor(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return problems
	}
	path := filepath.Join(dir, rel)
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return problems // Load reported it
	}
	sockets, err := os.MkdirTemp("", "mikrobill-validate-")
	if err != nil {
		return append(problems, err.Error())
	}
	defer os.RemoveAll(sockets)
	proc, err := client.Start(ctx, client.Config{
		Name: m.Name, Path: path, SocketDir: sockets, StartTimeout: timeout,
		Env:    client.PluginEnv(sockets),
		Logger: hclog.New(&hclog.LoggerOptions{Name: "validate", Output: g.stderr, Level: hclog.Warn}),
	})
	if err != nil {
		return append(problems, fmt.Sprintf("%s: handshake: %v", path, err))
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = proc.Stop(sctx)
	}()
	if err := m.CheckDescribe(proc.Describe()); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) == 0 {
		d := proc.Describe()
		caps := strings.Join(d.Capabilities, ", ")
		if caps == "" {
			caps = "none"
		}
		fmt.Fprintf(g.stdout, "ok: %s %s (%s), capabilities: %s, sdk %s, handshake in %s\n",
			d.Name, d.Version, d.Kind, caps, d.SDKVersion, proc.LoadTime().Round(time.Millisecond))
	}
	return problems
}

func newPluginLock(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "lock [NAME...]",
		Short: "Approve the installed plugins: pin their whole folders in plugins.lock",
		Long: `lock records each plugin's whole folder in plugins.lock in the plugin
directory: every file's path, mode and SHA-256 and a hash over them all, and
the executable's SHA-256. The host refuses to run a plugin that is missing
from the lock or whose folder has changed since (a file added, removed or
modified, a mode changed). Run it after reviewing a plugin you installed or
upgraded; it prints, for each plugin, whether it is new, unchanged or changed,
and for a changed one every file that was added, removed or modified. A
folder with a symbolic link leading outside it, or with a named pipe, socket
or device, cannot be locked. With names, only those plugins are (re)locked
and the other entries are kept; without, the whole file is written anew.

Beside the lock it writes plugins.lock.sums: the identity each executable
had when it was hashed (device, inode, size, modification and change times)
with its SHA-256, so that a host launching that very file need not hash it
again, even on its first start. A file written since, or copied elsewhere,
has another identity and is hashed at its launch. It is a cache: deleting
it costs only that hashing.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load(cmd, config.Overrides{})
			if err != nil {
				return err
			}
			found, err := plugins.Discover(cfg.Plugins.Dir)
			if err != nil {
				return err
			}
			old, err := lockfile.Read(cfg.Plugins.Dir)
			if err != nil {
				old = &lockfile.File{Plugins: map[string]lockfile.Entry{}}
			}
			next := &lockfile.File{Plugins: map[string]lockfile.Entry{}}
			wanted := map[string]bool{}
			for _, a := range args {
				wanted[a] = true
			}
			if len(args) > 0 {
				for n, e := range old.Plugins {
					next.Plugins[n] = e
				}
			}
			var failures []string
			seen := map[string]bool{}
			sums := map[string]lockfile.ExecutableSum{}
			for _, f := range found {
				if len(args) > 0 && !wanted[f.Name] {
					continue
				}
				seen[f.Name] = true
				if f.Err != nil {
					failures = append(failures, fmt.Sprintf("%s: not locked, its manifest has problems:\n%v", f.Name, f.Err))
					continue
				}
				rel, err := f.Manifest.ExecutableFor(runtime.GOOS, runtime.GOARCH)
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s: not locked: %v", f.Name, err))
					continue
				}
				e, sum, err := lockfile.LockSum(f.Dir, f.Manifest.Version, rel, plugins.LockSkip(cfg)...)
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s: not locked: %v", f.Name, err))
					continue
				}
				if sum != nil {
					sums[f.Name] = *sum
				}
				change, changes := "new", []lockfile.Change(nil)
				prev, ok := old.Plugins[f.Name]
				switch {
				case !ok:
				case prev.Legacy():
					change = "changed"
				case prev.FolderSHA256 == e.FolderSHA256 && prev.Executable == e.Executable && prev.SHA256 == e.SHA256 && prev.Version == e.Version:
					change = "unchanged"
				default:
					change, changes = "changed", prev.Compare(e.Files)
				}
				next.Plugins[f.Name] = e
				fmt.Fprintf(g.stdout, "%-10s %s %s folder:%s (%d files)\n", change, f.Name, e.Version, e.FolderSHA256[:16], len(e.Files))
				if ok && prev.Legacy() {
					fmt.Fprintf(g.stdout, "%11s(the old entry pinned only the executable; now the whole folder is)\n", "")
				}
				printChanges(g.stdout, strings.Repeat(" ", 11), changes)
			}
			for a := range wanted {
				if !seen[a] {
					failures = append(failures, fmt.Sprintf("%s: no such plugin in %s", a, cfg.Plugins.Dir))
				}
			}
			if err := lockfile.Write(cfg.Plugins.Dir, next); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s (%d plugins)\n", lockfile.Path(cfg.Plugins.Dir), len(next.Plugins))
			if err := lockfile.WriteSums(cfg.Plugins.Dir, next, sums); err != nil {
				fmt.Fprintf(g.stderr, "warning: %v\n", err)
			}
			if len(failures) > 0 {
				sort.Strings(failures)
				return &exitError{code: 1, msg: strings.Join(failures, "\n")}
			}
			return nil
		},
	}
}
