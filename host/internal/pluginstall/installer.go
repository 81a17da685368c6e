package pluginstall

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// Host is the running host an installer hands its changes to
// (plugins.Manager implements it). Each method is called after the plugin
// directory and plugins.lock hold the change.
type Host interface {
	// AddPlugin starts a plugin just placed in the plugin directory,
	// once the plugins it depends on run.
	AddPlugin(ctx context.Context, name string) error
	// SwitchPlugin starts the version now in the plugin's folder beside
	// the running one and switches calls to it once it is healthy
	// (blue-green); it returns after the grace period, with an error
	// saying why when the new version did not start or turned unhealthy
	// and calls went back to the previous one.
	SwitchPlugin(ctx context.Context, name string) error
	// RemovePlugin stops a plugin and forgets it.
	RemovePlugin(ctx context.Context, name string) error
}

// Config is what an Installer works with.
type Config struct {
	// Dir is the plugin directory.
	Dir string
	// HostVersion is this host's version, compared with a plugin's
	// min_host_version.
	HostVersion string
	// Protocols are the plugin protocol versions this host serves.
	// Default client.ProtocolVersions.
	Protocols []int
	// LockSkip are the folders plugins.lock leaves out (plugins.LockSkip).
	LockSkip []string
	// Wait bounds the wait for another action on the directory
	// (plugins.install_wait). Default 30s.
	Wait time.Duration
	// StartTimeout bounds the handshake of a plugin being checked.
	// Default client.DefaultStartTimeout.
	StartTimeout time.Duration
	// Sources returns the sources plugins may be installed from, by name:
	// the trusted marketplaces. THIS IS WHERE MARKETPLACES PLUG IN:
	// host/internal/marketplace's clients (one per marketplace the
	// operator added) are returned here. A folder on disk (DirSource) is
	// always possible by path and needs no entry. Nil: none.
	Sources func(ctx context.Context) ([]Source, error)
	// Host is the running host; nil when the installer works on the
	// directory alone (the CLI with no host running).
	Host Host
	// DataDir returns a plugin's data directory, for a remove that purges
	// it.
	DataDir func(name string) string
	// Log receives what the installer does.
	Log hclog.Logger
}

// Installer installs, upgrades, rolls back and removes plugins in one
// plugin directory, one action at a time (the directory's lock).
type Installer struct{ cfg Config }

// New returns an installer.
func New(cfg Config) *Installer {
	if cfg.Protocols == nil {
		cfg.Protocols = client.ProtocolVersions
	}
	if cfg.Wait == 0 {
		cfg.Wait = 30 * time.Second
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = client.DefaultStartTimeout
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	return &Installer{cfg: cfg}
}

// Layout returns the installer's plugin directory layout.
func (in *Installer) Layout() Layout { return Layout{Dir: in.cfg.Dir} }

// Source returns the trusted source named name (Config.Sources).
func (in *Installer) Source(ctx context.Context, name string) (Source, error) {
	srcs, err := in.Sources(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range srcs {
		if s.Name() == name {
			return s, nil
		}
		names = append(names, s.Name())
	}
	known := "none is trusted yet: add one with `mikrobill marketplace add NAME URL --root root.json`"
	if len(names) > 0 {
		known = "the trusted ones are " + strings.Join(names, ", ")
	}
	return nil, fmt.Errorf("%w: no marketplace named %q; %s (or install from a folder with --from DIR)", ErrNotFound, name, known)
}

// Offering returns the one trusted source that offers a plugin named
// name, for an install or upgrade that names no source: refused when
// none offers it, or when several do (the operator picks one).
func (in *Installer) Offering(ctx context.Context, name string) (Source, error) {
	srcs, err := in.Sources(ctx)
	if err != nil {
		return nil, err
	}
	var offer []Source
	var names, failed []string
	for _, s := range srcs {
		ls, err := s.Search(ctx, name)
		if err != nil {
			failed = append(failed, s.Name()+": "+err.Error())
			continue
		}
		if slices.ContainsFunc(ls, func(l Listing) bool { return l.Name == name }) {
			offer = append(offer, s)
			names = append(names, s.Name())
		}
	}
	switch {
	case len(offer) == 1:
		return offer[0], nil
	case len(offer) > 1:
		return nil, fmt.Errorf("%w: plugin %q is offered by the marketplaces %s: say which with --source NAME (\"source\" in the API)", ErrRefused, name, strings.Join(names, ", "))
	case len(srcs) == 0:
		return nil, fmt.Errorf("%w: no marketplace is trusted yet to install plugin %q from: add one with `mikrobill marketplace add NAME URL --root root.json`, or install from a folder with --from DIR", ErrNotFound, name)
	}
	why := ""
	if len(failed) > 0 {
		why = " (not searched: " + strings.Join(failed, "; ") + ")"
	}
	return nil, fmt.Errorf("%w: no trusted marketplace offers plugin %q%s; `mikrobill plugin search` lists what they offer", ErrNotFound, name, why)
}

// Sources returns every trusted source.
func (in *Installer) Sources(ctx context.Context) ([]Source, error) {
	if in.cfg.Sources == nil {
		return nil, nil
	}
	return in.cfg.Sources(ctx)
}

// Observer follows an action; either field may be nil.
type Observer struct {
	// Step is told each step as it begins: "fetch", "check", "place",
	// "start", "switch", "remove".
	Step func(step string)
	// Progress is told the bytes fetched.
	Progress Progress
}

func (o Observer) step(s string) {
	if o.Step != nil {
		o.Step(s)
	}
}

// Result is what an action did.
type Result struct {
	Action string `json:"action"`
	Name   string `json:"name"`
	// From is the version active before ("" when none) and To the one
	// active after ("" after a remove).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Source is where the plugin came from ("" for a rollback or remove).
	Source string `json:"source,omitempty"`
	// FolderSHA256 is the active folder's hash in plugins.lock after the
	// action: every host sharing the store installs the same target.
	FolderSHA256 string `json:"folder_sha256,omitempty"`
}

// Actions.
const (
	ActionInstall  = "install"
	ActionUpgrade  = "upgrade"
	ActionRollback = "rollback"
	ActionRemove   = "remove"

	// The installer's inner switches (journal.go, publicAction).
	actionSwitchBack  = "switch-back"
	actionUndoInstall = "undo-install"
)

// active returns the manifest and lock entry of a plugin's active version,
// or nil when it is not installed.
func (in *Installer) active(name string) (*manifest.Manifest, *lockfile.Entry, error) {
	dir := in.Layout().Active(name)
	if _, err := os.Stat(filepath.Join(dir, manifest.FileName)); errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	m, err := manifest.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	lf, err := lockfile.Read(in.cfg.Dir)
	if err != nil {
		return nil, nil, err
	}
	if e, ok := lf.Plugins[name]; ok {
		return m, &e, nil
	}
	return m, nil, nil
}

// begin takes the directory's lock and recovers an interrupted action.
func (in *Installer) begin() (*dirLock, error) {
	lk, err := lockDir(in.cfg.Dir, in.cfg.Wait)
	if err != nil {
		return nil, err
	}
	if rec, err := in.Layout().recoverLocked(); err != nil {
		lk.unlock()
		return nil, err
	} else if rec.Name != "" {
		in.cfg.Log.Warn("finished an interrupted plugin action", "action", rec.Action, "plugin", rec.Name, "forward", rec.Forward)
	}
	return lk, nil
}

// Install installs name at version (the newest when "") from src and
// starts it on the running host. A plugin already installed is refused:
// upgrade it.
func (in *Installer) Install(ctx context.Context, src Source, name, version string, obs Observer) (*Result, error) {
	return in.put(ctx, ActionInstall, src, name, version, "", obs)
}

// Upgrade replaces an installed plugin by name at version (the newest
// when "") from src; a running host switches blue-green. The previous
// version is kept for Rollback.
func (in *Installer) Upgrade(ctx context.Context, src Source, name, version string, obs Observer) (*Result, error) {
	return in.put(ctx, ActionUpgrade, src, name, version, "", obs)
}

// put fetches, checks, places and starts name at version; expect, when
// set, is the folder hash the target must have (Converge).
func (in *Installer) put(ctx context.Context, action string, src Source, name, version, expect string, obs Observer) (*Result, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	lk, err := in.begin()
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	cur, curEntry, err := in.active(name)
	if err != nil && action == ActionInstall {
		return nil, fmt.Errorf("%w: a folder %s is there already but its manifest does not load (%v); remove it first", ErrState, in.Layout().Active(name), err)
	}
	switch {
	case action == ActionInstall && cur != nil:
		return nil, fmt.Errorf("%w: plugin %q is installed already (version %s); upgrade it: `mikrobill plugin upgrade %s`", ErrState, name, cur.Version, name)
	case action == ActionUpgrade && cur == nil:
		return nil, fmt.Errorf("%w: plugin %q is not installed; install it: `mikrobill plugin install %s`", ErrState, name, name)
	}

	obs.step("fetch")
	if err := os.MkdirAll(in.Layout().Staging(), 0o755); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(in.Layout().Staging(), name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage) // gone once placed
	target := filepath.Join(stage, name)
	if err := os.Mkdir(target, 0o755); err != nil {
		return nil, err
	}
	got, err := src.Fetch(ctx, name, version, target, obs.Progress)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", name, describeSource(src), err)
	}
	obs.step("check")
	man, entry, sum, err := in.check(ctx, target, name, version)
	if err != nil {
		return nil, err
	}
	if got.Name != "" && got.Name != name {
		return nil, fmt.Errorf("%w: %s offered plugin %q when %q was asked", ErrRefused, describeSource(src), got.Name, name)
	}
	if expect != "" && entry.FolderSHA256 != expect {
		return nil, fmt.Errorf("%w: %s %s from %s is not the target recorded in the store (folder hash %s, recorded %s); "+
			"the source changed since another host installed it: install it again through one host", ErrRefused, name, man.Version, describeSource(src), entry.FolderSHA256, expect)
	}
	res := &Result{Action: action, Name: name, To: man.Version, Source: src.Name(), FolderSHA256: entry.FolderSHA256}
	j := &journal{ID: newID(), Action: action, Name: name, To: man.Version, Target: target, ToEntry: &entry, ToSum: sum}
	if cur != nil {
		res.From, j.From, j.FromEntry = cur.Version, cur.Version, curEntry
	}
	obs.step("place")
	if err := in.Layout().switchTo(j); err != nil {
		return nil, fmt.Errorf("place %s %s: %w", name, man.Version, err)
	}
	in.cfg.Log.Info("plugin placed", "action", action, "plugin", name, "from", res.From, "to", res.To, "source", src.Name())
	if in.cfg.Host == nil {
		return res, nil
	}
	if cur == nil {
		obs.step("start")
		if err := in.cfg.Host.AddPlugin(ctx, name); err != nil {
			undo := &journal{ID: newID(), Action: actionUndoInstall, Name: name, From: man.Version, FromEntry: &entry, Discard: true}
			if uerr := in.Layout().switchTo(undo); uerr != nil {
				return nil, fmt.Errorf("%w; removing it again failed: %v", err, uerr)
			}
			return nil, fmt.Errorf("%w: plugin %q %s did not start on this host, so it was not installed: %w", ErrRefused, name, man.Version, err)
		}
		return res, nil
	}
	return res, in.switchHost(ctx, name, j, obs)
}

// switchHost has the running host switch to the version just placed; when
// the host switched back on its own, the directory follows it back.
func (in *Installer) switchHost(ctx context.Context, name string, j *journal, obs Observer) error {
	if in.cfg.Host == nil {
		return nil
	}
	obs.step("switch")
	err := in.cfg.Host.SwitchPlugin(ctx, name)
	if err == nil {
		in.Layout().prune(name, 1)
		return nil
	}
	back := &journal{ID: newID(), Action: actionSwitchBack, Name: name, From: j.To, FromEntry: j.ToEntry,
		To: j.From, Target: in.Layout().Kept(name, j.From), ToEntry: j.FromEntry}
	if uerr := in.Layout().switchTo(back); uerr != nil {
		return fmt.Errorf("%w; and putting version %s back in the plugin directory failed: %v", err, j.From, uerr)
	}
	return fmt.Errorf("%w: %s %s was switched back to %s: %w", ErrRefused, name, j.To, j.From, err)
}

// check validates a fetched folder: its manifest strictly, its name, this
// host's compatibility, the plugins it depends on, and a real handshake;
// it returns the manifest and the lock entry that approves the folder.
func (in *Installer) check(ctx context.Context, dir, name, version string) (*manifest.Manifest, lockfile.Entry, *lockfile.ExecutableSum, error) {
	man, err := manifest.Load(dir)
	if err != nil {
		return nil, lockfile.Entry{}, nil, fmt.Errorf("%w: its manifest has problems: %w", ErrRefused, err)
	}
	if man.Name != name {
		return nil, lockfile.Entry{}, nil, fmt.Errorf("%w: the plugin fetched is named %q (plugin.json), not %q as asked; "+
			"install it by its own name if that is the one you want", ErrRefused, man.Name, name)
	}
	if version != "" && man.Version != version {
		return nil, lockfile.Entry{}, nil, fmt.Errorf("%w: the plugin fetched is %s %s, not version %s as asked", ErrRefused, name, man.Version, version)
	}
	if problems := man.CheckHost(in.cfg.HostVersion, in.cfg.Protocols); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Field + ": " + p.Message
		}
		return nil, lockfile.Entry{}, nil, fmt.Errorf("%w: %s %s does not run on this host (mikrobill %s): %s; or install a version made for this host (`mikrobill plugin install %s@VERSION`)",
			ErrRefused, name, man.Version, in.cfg.HostVersion, strings.Join(msgs, "; "), name)
	}
	if err := in.checkDependencies(man); err != nil {
		return nil, lockfile.Entry{}, nil, err
	}
	rel, err := man.ExecutableFor(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return nil, lockfile.Entry{}, nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	entry, sum, err := lockfile.LockSum(dir, man.Version, rel, in.cfg.LockSkip...)
	if err != nil {
		return nil, lockfile.Entry{}, nil, fmt.Errorf("%w: hash its folder: %w", ErrRefused, err)
	}
	if _, err := plugins.Handshake(ctx, man, entry, in.cfg.StartTimeout, in.cfg.Log); err != nil {
		return nil, lockfile.Entry{}, nil, fmt.Errorf("%w: %s %s failed its handshake: %w", ErrRefused, name, man.Version, err)
	}
	return man, entry, sum, nil
}

// checkDependencies refuses a plugin whose plugin dependencies are not
// installed in a version that satisfies its constraint.
func (in *Installer) checkDependencies(man *manifest.Manifest) error {
	for _, d := range man.Dependencies {
		if d.IsHostCapability() {
			continue
		}
		dep, _, err := in.active(d.Name)
		if err != nil || dep == nil {
			return fmt.Errorf("%w: %s depends on plugin %q, which is not installed; install %s first", ErrRefused, man.Name, d.Name, d.Name)
		}
		if d.Version == "" {
			continue
		}
		c, cerr := semver.NewConstraint(d.Version)
		v, verr := semver.NewVersion(dep.Version)
		if cerr == nil && verr == nil && !c.Check(v) {
			return fmt.Errorf("%w: %s needs %s %s, installed is %s; upgrade %s first", ErrRefused, man.Name, d.Name, d.Version, dep.Version, d.Name)
		}
	}
	return nil
}

// Rollback makes the plugin's previous kept version active again (checked
// against the lock entry it was kept with); a running host switches
// blue-green.
func (in *Installer) Rollback(ctx context.Context, name string, obs Observer) (*Result, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	lk, err := in.begin()
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	cur, curEntry, err := in.active(name)
	if err != nil {
		return nil, err
	}
	kept := in.Layout().KeptVersions(name)
	var prev string
	for _, v := range kept {
		if cur == nil || v != cur.Version {
			prev = v
			break
		}
	}
	if prev == "" {
		return nil, fmt.Errorf("%w: plugin %q has no previous version kept in %s to roll back to", ErrState, name, filepath.Join(in.cfg.Dir, versionsDir, name))
	}
	obs.step("check")
	target := in.Layout().Kept(name, prev)
	entry, err := in.Layout().keptLock(name, prev)
	if err != nil {
		return nil, err
	}
	files, err := lockfile.Scan(target, in.cfg.LockSkip...)
	if err != nil {
		return nil, err
	}
	if changes := entry.Compare(files); len(changes) > 0 {
		return nil, fmt.Errorf("%w: kept version %s of %q changed since it was locked: %s; reinstall that version instead", ErrRefused, prev, name, lockfile.Summary(changes))
	}
	man, err := manifest.Load(target)
	if err != nil {
		return nil, fmt.Errorf("%w: kept version %s: %w", ErrRefused, prev, err)
	}
	if problems := man.CheckHost(in.cfg.HostVersion, in.cfg.Protocols); len(problems) > 0 {
		return nil, fmt.Errorf("%w: kept version %s of %q does not run on this host: %s", ErrRefused, prev, name, problems[0].Message)
	}
	res := &Result{Action: ActionRollback, Name: name, To: prev, FolderSHA256: entry.FolderSHA256}
	j := &journal{ID: newID(), Action: ActionRollback, Name: name, To: prev, Target: target, ToEntry: &entry}
	if cur != nil {
		res.From, j.From, j.FromEntry = cur.Version, cur.Version, curEntry
	}
	obs.step("place")
	if err := in.Layout().switchTo(j); err != nil {
		return nil, err
	}
	in.cfg.Log.Info("plugin rolled back", "plugin", name, "from", res.From, "to", prev)
	if in.cfg.Host == nil {
		return res, nil
	}
	if cur == nil {
		obs.step("start")
		return res, in.cfg.Host.AddPlugin(ctx, name)
	}
	return res, in.switchHost(ctx, name, j, obs)
}

// Remove stops and removes a plugin; its folder is kept under .versions
// (Rollback brings it back). It is refused while another installed plugin
// depends on it, unless force. Its data directory stays unless purgeData.
func (in *Installer) Remove(ctx context.Context, name string, force, purgeData bool, obs Observer) (*Result, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	lk, err := in.begin()
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	cur, curEntry, err := in.active(name)
	if cur == nil && err == nil {
		return nil, fmt.Errorf("%w: plugin %q is not installed in %s", ErrState, name, in.cfg.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: plugin %q: %w", ErrState, name, err)
	}
	if deps := in.dependents(name); len(deps) > 0 && !force {
		return nil, fmt.Errorf("%w: %s depend(s) on plugin %q; remove them first, or remove it anyway with --force (they lose it)", ErrState, strings.Join(deps, ", "), name)
	}
	if in.cfg.Host != nil {
		obs.step("stop")
		if err := in.cfg.Host.RemovePlugin(ctx, name); err != nil {
			return nil, err
		}
	}
	obs.step("remove")
	j := &journal{ID: newID(), Action: ActionRemove, Name: name, From: cur.Version, FromEntry: curEntry}
	if err := in.Layout().switchTo(j); err != nil {
		return nil, err
	}
	in.Layout().prune(name, 1)
	if purgeData && in.cfg.DataDir != nil {
		if err := os.RemoveAll(in.cfg.DataDir(name)); err != nil {
			return nil, fmt.Errorf("remove the data directory of %q: %w", name, err)
		}
	}
	in.cfg.Log.Info("plugin removed", "plugin", name, "version", cur.Version, "purge_data", purgeData)
	return &Result{Action: ActionRemove, Name: name, From: cur.Version}, nil
}

// dependents lists the installed plugins that depend on name.
func (in *Installer) dependents(name string) []string {
	found, err := plugins.Discover(in.cfg.Dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range found {
		if f.Manifest == nil || f.Name == name {
			continue
		}
		for _, d := range f.Manifest.Dependencies {
			if d.Name == name {
				out = append(out, f.Name)
			}
		}
	}
	return out
}

// checkName refuses a name that is not a plain folder name.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) || name != filepath.Base(name) {
		return fmt.Errorf("%w: %q is not a plugin name (a plugin name is a plain folder name such as payment-midtrans)", ErrRefused, name)
	}
	return nil
}

func describeSource(src Source) string {
	if _, ok := src.(DirSource); ok {
		return "folder " + src.Name()
	}
	return "marketplace " + src.Name()
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
