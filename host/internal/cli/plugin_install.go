package cli

// plugin install, upgrade, rollback and remove. With a host answering at
// the address (--address, default from the configuration), the command
// goes through its admin API (POST /api/v1/plugins/<action>, an admin's
// API token), so the running host takes the change in without a restart
// and the action is recorded for the other hosts; the command follows the
// action's progress. With no host answering, it works on the plugin
// directory directly (the same installer, the same checks); the next
// `mikrobill serve` starts what it installed.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// pluginInstallFlags are the flags every install command shares.
type pluginInstallFlags struct {
	address, token, from, source string
	force, purge, offline        bool
}

func (f *pluginInstallFlags) add(cmd *cobra.Command, action string) {
	if action == pluginstall.ActionInstall || action == pluginstall.ActionUpgrade {
		cmd.Flags().StringVar(&f.from, "from", "", "install from this folder (one plugin folder, or a folder of plugin folders) instead of a marketplace")
		cmd.Flags().StringVar(&f.source, "source", "", "the marketplace to install from, by the name it was added with")
	}
	if action == pluginstall.ActionRemove {
		cmd.Flags().BoolVar(&f.force, "force", false, "remove it even though other plugins depend on it (they lose it)")
		cmd.Flags().BoolVar(&f.purge, "purge-data", false, "also delete the plugin's data directory (kept by default)")
	}
	cmd.Flags().StringVar(&f.address, "address", "", "the running host's base URL (default: from the configuration, http://127.0.0.1:3000)")
	cmd.Flags().StringVar(&f.token, "token", "", "an admin's API token (mbt_...) for the running host (default $MIKROBILL_TOKEN)")
	cmd.Flags().BoolVar(&f.offline, "offline", false, "work on the plugin directory directly even if a host answers at the address")
}

const pluginInstallHelp = `
With a host answering at --address (default: the configuration's address), the
command asks it through its admin API: it needs an admin's API token (--token or
MIKROBILL_TOKEN; ` + "`mikrobill user token --username NAME`" + ` makes one), the running
host takes the change in without a restart, the action is recorded in the
database for every host sharing it, and the command shows its progress. A
folder given with --from is read by the host, on its machine.

With no host answering (or --offline), it changes the plugin directory
directly, with the same checks; the next ` + "`mikrobill serve`" + ` starts the result.

Only one action runs on a plugin directory at a time: another one waits up to
plugins.install_wait (30s), then is refused.`

func newPluginInstallCommands(g *globals) []*cobra.Command {
	mk := func(action, use, short, long string, args cobra.PositionalArgs) *cobra.Command {
		var f pluginInstallFlags
		cmd := &cobra.Command{Use: use, Short: short, Long: long + "\n" + pluginInstallHelp, Args: args,
			RunE: func(cmd *cobra.Command, args []string) error {
				req := pluginstall.Request{Action: action, Name: args[0], Source: f.source, From: f.from, Force: f.force, PurgeData: f.purge}
				if action == pluginstall.ActionInstall || action == pluginstall.ActionUpgrade {
					req.Name, req.Version, _ = strings.Cut(args[0], "@")
				}
				if req.From != "" {
					abs, err := filepath.Abs(req.From)
					if err != nil {
						return err
					}
					req.From = abs
				}
				return runPluginAction(cmd, g, &f, req)
			}}
		f.add(cmd, action)
		return cmd
	}
	return []*cobra.Command{
		mk(pluginstall.ActionInstall, "install NAME[@VERSION]", "Install a plugin from a marketplace or a folder, and start it",
			`install fetches the plugin (the newest version unless @VERSION says which) from
a marketplace (--source; without it, the one trusted marketplace that offers
it) or a folder (--from), checks it (its manifest, that it
is the plugin asked for, that this host's version and plugin protocol suit it,
that the plugins it depends on are installed, and a real handshake), places
it in the plugin directory, locks it in plugins.lock and starts it.`, cobra.ExactArgs(1)),
		mk(pluginstall.ActionUpgrade, "upgrade NAME[@VERSION]", "Upgrade an installed plugin; the running host switches blue-green",
			`upgrade fetches and checks the new version as install does, keeps the previous
version on disk for rollback, and has the running host start the new version
beside the old one: calls switch to it once it is healthy (calls in flight
finish on the old one). If it does not start, or exits or turns unhealthy
within plugins.upgrade_grace (30s), the host switches back on its own, the
previous version is put back, and the command says why.`, cobra.ExactArgs(1)),
		mk(pluginstall.ActionRollback, "rollback NAME", "Switch a plugin back to the previous version kept on disk",
			`rollback makes the previous version of the plugin, kept on disk by the last
upgrade (or remove), active again, checked against the lock entry it was kept
with; the running host switches to it as an upgrade does.`, cobra.ExactArgs(1)),
		mk(pluginstall.ActionRemove, "remove NAME", "Stop and remove a plugin (its data directory is kept)",
			`remove stops the plugin and takes it out of the plugin directory and
plugins.lock; its folder is kept aside (rollback brings it back) and its data
directory stays unless --purge-data. It is refused while another installed
plugin depends on it, unless --force.`, cobra.ExactArgs(1)),
	}
}

// runPluginAction carries out req through the running host, or directly
// on the plugin directory when none answers.
func runPluginAction(cmd *cobra.Command, g *globals, f *pluginInstallFlags, req pluginstall.Request) error {
	ctx := cmd.Context()
	if !f.offline {
		base, err := hostAddress(g, cmd, f.address)
		if err != nil {
			return err
		}
		if hostAnswers(ctx, base) {
			return runPluginActionOnHost(ctx, g, base, g.apiToken(f.token), req)
		}
		if f.address != "" {
			return fmt.Errorf("no host answers at %s; start it, or leave out --address to work on the plugin directory directly", base)
		}
		fmt.Fprintf(g.stderr, "no host answers at %s: working on the plugin directory directly\n", base)
	}
	cfg, err := g.load(cmd, config.Overrides{})
	if err != nil {
		return err
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "mikrobill", Output: g.stderr, Level: hclog.Warn})
	// The action is recorded in the store as the host records its own, so
	// that hosts sharing it, and this one's next start, carry out the same.
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w; the action is recorded in the database, which the other hosts follow", err)
	}
	defer st.Close()
	record := recordPluginAction(st)
	req.By = "cli:" + currentUser()
	r := pluginstall.NewRunner(newInstaller(cfg, nil, log), func(ctx context.Context, a pluginstall.Action) error {
		_, err := record(ctx, a)
		return err
	})
	a, err := r.Start(ctx, req)
	if err != nil {
		return err
	}
	err = followAction(ctx, g, func(context.Context) (pluginstall.Action, error) {
		a, _ := r.Get(a.ID)
		return a, nil
	}, " (plugin directory "+cfg.Plugins.Dir+"; the next `mikrobill serve` starts it)")
	_, _ = r.Wait(context.WithoutCancel(ctx), a.ID) // its record written before the store closes
	return err
}

// currentUser is the name of the user running the command, for the record.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// hostAnswers reports whether a host answers /live at base.
func hostAnswers(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/live", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func runPluginActionOnHost(ctx context.Context, g *globals, base, token string, req pluginstall.Request) error {
	body := map[string]any{"name": req.Name, "version": req.Version, "source": req.Source, "from": req.From, "force": req.Force, "purge_data": req.PurgeData}
	var started struct {
		Action pluginstall.Action `json:"action"`
	}
	if err := callHostWith(ctx, http.MethodPost, base+"/api/v1/plugins/"+req.Action, token, body, &started); err != nil {
		return err
	}
	return followAction(ctx, g, func(ctx context.Context) (pluginstall.Action, error) {
		var got struct {
			Action pluginstall.Action `json:"action"`
		}
		err := callHost(ctx, http.MethodGet, base+"/api/v1/plugin-actions/"+started.Action.ID, token, &got)
		return got.Action, err
	}, " (host "+base+")")
}

// followAction shows an action's steps and a progress bar of its bytes
// until it ends, then its outcome.
func followAction(ctx context.Context, g *globals, get func(context.Context) (pluginstall.Action, error), where string) error {
	var progress pluginstall.Progress // nil until the fetch's size is known, and when stderr is no terminal
	finish := func() {}
	step := ""
	// Once a second: the host's rate limit (RATE_LIMIT_MAX a minute)
	// counts these requests too, and an upgrade's grace period is long.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		a, err := get(ctx)
		var he *hostError
		if errors.As(err, &he) && he.code == "rate_limited" {
			// Limited by other callers: the action goes on; ask again.
			select {
			case <-ctx.Done():
				return errors.New("stopped following the action while the host limited requests; it goes on (GET /api/v1/plugin-actions)")
			case <-time.After(2 * time.Second):
			}
			continue
		}
		if err != nil {
			return err
		}
		if a.Total > 0 && progress == nil && step == "fetch" {
			progress, finish = DownloadBar(g.stderr, "fetching "+a.Name)
		}
		if progress != nil {
			progress(a.Done, a.Total)
		}
		if a.Step != step && a.Step != "" {
			step = a.Step
			if progress == nil || step != "fetch" {
				finish()
				progress, finish = nil, func() {}
				fmt.Fprintf(g.stderr, "%s %s: %s\n", a.Request.Action, a.Name, stepWords[step])
			}
		}
		if a.State != pluginstall.StateRunning {
			finish()
			if a.State == pluginstall.StateFailed {
				return &exitError{code: 1, msg: fmt.Sprintf("%s %s failed: %s", a.Request.Action, a.Name, a.Error)}
			}
			fmt.Fprintln(g.stdout, describeResult(a.Result)+where)
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("stopped following the action; it goes on (GET /api/v1/plugin-actions/" + a.ID + ")")
		case <-tick.C:
		}
	}
}

var stepWords = map[string]string{
	"fetch": "fetching", "check": "checking (manifest, compatibility, handshake)", "place": "placing and locking",
	"start": "starting it on the host", "switch": "switching the host to it (blue-green, then the grace period)",
	"stop": "stopping it on the host", "remove": "removing it from the plugin directory",
}

func describeResult(r *pluginstall.Result) string {
	if r == nil {
		return "done"
	}
	switch {
	case r.To == "":
		return fmt.Sprintf("%s %s removed", r.Name, r.From)
	case r.From == "":
		return fmt.Sprintf("%s %s %sed", r.Name, r.To, strings.TrimSuffix(r.Action, "e"))
	default:
		return fmt.Sprintf("%s %s -> %s (%s; %s kept for rollback)", r.Name, r.From, r.To, r.Action, r.From)
	}
}
