package pluginstall

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
)

// The plugin directory as the installer keeps it:
//
//	<dir>/<name>/                      the active version: discovered and locked as always
//	<dir>/plugins.lock                 one entry per active plugin
//	<dir>/.versions/<name>/<version>/  a kept version (the previous one, for rollback)
//	<dir>/.versions/<name>/<version>.lock.json  its plugins.lock entry, as it was locked
//	<dir>/.staging/<id>/               a fetch being checked; renamed into place
//	<dir>/.install.journal.json        the action under way (journal.go)
//	<dir>/.install.lock                held (flock) by whoever changes the directory
//
// Every folder is on the plugin directory's file system, so placing one is
// a rename. Discovery skips dot-folders (plugins.Discover).
const (
	versionsDir = ".versions"
	stagingDir  = ".staging"
	journalFile = ".install.journal.json"
	lockFile    = ".install.lock"
)

// Layout names the places in one plugin directory.
type Layout struct{ Dir string }

// Active is the folder of a plugin's active version.
func (l Layout) Active(name string) string { return filepath.Join(l.Dir, name) }

// Kept is the folder of a kept version.
func (l Layout) Kept(name, version string) string {
	return filepath.Join(l.Dir, versionsDir, name, version)
}

// keptEntry is the file holding a kept version's lock entry.
func (l Layout) keptEntry(name, version string) string {
	return l.Kept(name, version) + ".lock.json"
}

// Staging is the folder fetches are unpacked under.
func (l Layout) Staging() string { return filepath.Join(l.Dir, stagingDir) }

// Journal is the journal file.
func (l Layout) Journal() string { return filepath.Join(l.Dir, journalFile) }

// KeptVersions lists a plugin's kept versions, the one kept last first
// (by the time its lock entry was written; semver order among equals).
func (l Layout) KeptVersions(name string) []string {
	entries, err := os.ReadDir(filepath.Join(l.Dir, versionsDir, name))
	if err != nil {
		return nil
	}
	type kept struct {
		v  *semver.Version
		at time.Time
	}
	var ks []kept
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		v, err := semver.StrictNewVersion(e.Name())
		if err != nil {
			continue
		}
		k := kept{v: v}
		if st, err := os.Stat(l.keptEntry(name, e.Name())); err == nil {
			k.at = st.ModTime()
		}
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if !ks[i].at.Equal(ks[j].at) {
			return ks[i].at.After(ks[j].at)
		}
		return ks[i].v.GreaterThan(ks[j].v)
	})
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.v.Original()
	}
	return out
}

// keep writes a kept version's lock entry beside its folder.
func (l Layout) keep(name, version string, e lockfile.Entry) error {
	raw, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(l.keptEntry(name, version), raw)
}

// keptLock reads a kept version's lock entry.
func (l Layout) keptLock(name, version string) (lockfile.Entry, error) {
	var e lockfile.Entry
	raw, err := os.ReadFile(l.keptEntry(name, version))
	if err != nil {
		return e, fmt.Errorf("the lock entry of kept version %s of %q: %w", version, name, err)
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("the lock entry of kept version %s of %q: %w", version, name, err)
	}
	return e, nil
}

// prune removes a plugin's kept versions but the newest keep ones.
func (l Layout) prune(name string, keep int) {
	for i, v := range l.KeptVersions(name) {
		if i >= keep {
			_ = os.RemoveAll(l.Kept(name, v))
			_ = os.Remove(l.keptEntry(name, v))
		}
	}
}

// writeFileAtomic writes path through a temporary file, synced, and a
// rename.
func writeFileAtomic(path string, raw []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// dirLock is the held lock on a plugin directory.
type dirLock struct{ f *os.File }

// lockDir takes the plugin directory's lock (flock on .install.lock),
// waiting up to wait for another action to finish. The holder's pid is
// written into the file, for the refusal's message.
func lockDir(dir string, wait time.Duration) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			raw, _ := os.ReadFile(path)
			holder := strings.TrimSpace(string(raw))
			f.Close()
			if holder == "" {
				holder = "another process"
			} else {
				holder = "process " + holder
			}
			return nil, fmt.Errorf("%w on plugin directory %s (%s holds %s) and did not finish within %s; "+
				"wait for it to finish and try again (plugins.install_wait sets how long to wait)", ErrBusy, dir, holder, lockFile, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &dirLock{f: f}, nil
}

// unlock releases the lock.
func (d *dirLock) unlock() {
	_ = d.f.Truncate(0)
	_ = syscall.Flock(int(d.f.Fd()), syscall.LOCK_UN)
	_ = d.f.Close()
}
