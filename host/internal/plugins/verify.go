package plugins

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

// verified checks a plugin's whole folder against plugins.lock and returns
// the executable's locked checksum, which client.Start checks on the very
// file it executes. It runs when the manager admits a plugin and right
// before every launch; the lock file is read each time, so an operator who
// installs a new version, locks it and restarts the plugin gets the new
// version. With launching (at admission and before a launch), the
// executable's bytes are left to client.Start (one read of them per
// launch); otherwise they are read too, so a changed executable is named
// among the changed files (the launcher does that when client.Start finds
// the executable changed).
func verified(cfg *config.Config, man *manifest.Manifest, launching bool) ([]byte, error) {
	rel, err := man.ExecutableFor(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	if err := checkLayout(cfg, man); err != nil {
		return nil, err
	}
	lock, err := lockfile.ReadShared(cfg.Plugins.Dir)
	if err != nil {
		return nil, err
	}
	entry, err := lock.Check(man.Name, rel)
	if err != nil {
		return nil, err
	}
	changes, err := folderChanges(cfg, entry, man.Dir, launching)
	if err != nil {
		return nil, fmt.Errorf("refused before running it: %w", err)
	}
	if len(changes) > 0 {
		return nil, fmt.Errorf("refused before running it: its folder %s changed since it was locked: %s; "+
			"if you installed a new version on purpose, review it and run `mikrobill plugin lock %s`",
			man.Dir, lockfile.Summary(changes), man.Name)
	}
	return entry.Sum()
}

// folderChanges compares a plugin's folder with its lock entry.
func folderChanges(cfg *config.Config, entry lockfile.Entry, dir string, launching bool) ([]lockfile.Change, error) {
	if launching {
		return entry.ChangesBeforeLaunch(dir, LockSkip(cfg)...)
	}
	files, err := lockfile.Scan(dir, LockSkip(cfg)...)
	if err != nil {
		return nil, err
	}
	return entry.Compare(files), nil
}

// LockSkip are the directories plugins.lock leaves out of a plugin folder:
// the host's data directory (with the plugins' data directories) and its
// runtime directory, should an operator's layout put either inside one.
// `mikrobill plugin lock` and the host use the same.
func LockSkip(cfg *config.Config) []string {
	return append([]string{cfg.DataDir}, cfg.RuntimeDirs()...)
}

// checkLayout refuses a plugin whose data directory is its folder or holds
// it (data_dir such that <data_dir>/plugins is the plugin directory): the
// plugin writes there, and plugins.lock pins the folder.
func checkLayout(cfg *config.Config, man *manifest.Manifest) error {
	data, err := filepath.Abs(cfg.PluginDataDir(man.Name))
	if err != nil {
		return err
	}
	folder, err := filepath.Abs(man.Dir)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(data, folder); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("its data directory %s is its plugin folder or holds it; the plugin writes into its data directory and "+
			"plugins.lock pins its folder: set data_dir (MIKROBILL_DATA_DIR) so that <data_dir>/plugins is not the plugin directory", data)
	}
	return nil
}

func checksumRefusal(name string, err error) error {
	return fmt.Errorf("refused before running it: %v; if you installed a new version on purpose, review it and run `mikrobill plugin lock %s`", err, name)
}
