package lockfile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/mikrobill/mikrobill/sdk/client"
)

// SumsFileName is the file beside plugins.lock in which [WriteSums]
// records, for each plugin whose folder [LockSum] hashed, the identity its executable
// had then (client.FileID: device, inode, size, modification and change
// times) with its SHA-256. A host that launches that very file, unchanged
// since (the same identity), need not read it again to check it against
// the lock: `mikrobill plugin lock` has just read every byte of it. The
// first start of a host on a fresh data directory, after `make build` or
// after locking a plugin by hand, finds its executables checked already.
//
// It is a cache, trusted as plugins.lock is: it is written by the same
// commands into the same directory, and whoever can write it can write the
// lock too. An entry vouches only for a file whose identity is exactly the
// one recorded, and only for the sum the lock asks for: a file written
// since has another change time, which no program sets back (short of
// changing the system's clock), and a copied folder has other inodes, so
// both are hashed at their launch as before. Deleting the file costs only
// that hashing; it is machine-specific and need not be backed up.
const SumsFileName = "plugins.lock.sums"

// sumsVersion is the sums file's format version; a file of another
// version is ignored.
const sumsVersion = 1

// ExecutableSum is one plugin's entry in the sums file.
type ExecutableSum struct {
	// Executable is the executable's path relative to the plugin's
	// folder, as the lock names it.
	Executable string `json:"executable"`
	// ID is the identity the file had when it was hashed.
	ID client.FileID `json:"id"`
	// SHA256 is its SHA-256, hex encoded: the lock's.
	SHA256 string `json:"sha256"`
}

type sumsFile struct {
	Version     int                      `json:"version"`
	Executables map[string]ExecutableSum `json:"executables"`
}

// SumsPath returns the sums file's path in a plugin directory.
func SumsPath(pluginDir string) string { return filepath.Join(pluginDir, SumsFileName) }

// WriteSums writes the sums file for the lock f (which [Write] has just
// written): fresh, by plugin name, are the entries [LockSum] returned in
// this run; for f's other plugins the entries the file had are kept, as
// long as they still name the locked executable and sum. It is a cache:
// when it cannot be written, the old file is removed, so that nothing is
// left that disagrees with the lock, and the error says why; the launches
// then hash as they would without it.
func WriteSums(pluginDir string, f *File, fresh map[string]ExecutableSum) error {
	old, _ := ReadSums(pluginDir)
	next := sumsFile{Version: sumsVersion, Executables: map[string]ExecutableSum{}}
	for name, e := range f.Plugins {
		if s, ok := fresh[name]; ok && s.Executable == e.Executable && s.SHA256 == e.SHA256 {
			next.Executables[name] = s
		} else if s, ok := old[name]; ok && s.Executable == e.Executable && s.SHA256 == e.SHA256 {
			next.Executables[name] = s
		}
	}
	path := SumsPath(pluginDir)
	if len(next.Executables) == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		return nil
	}
	err := writeSums(pluginDir, path, next)
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s (the executables' sums as they were locked, so that a host's first start need not hash them again; without it each is hashed at its launch): %w", path, err)
	}
	return nil
}

func writeSums(pluginDir, path string, sf sumsFile) error {
	raw, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(pluginDir, ".plugins-lock-sums-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadSums reads a plugin directory's sums file, by plugin name. A missing
// file is no entries and no error; a damaged one or one of another format
// version is no entries and an error, which a host may log: the launches
// then hash as they would without it.
func ReadSums(pluginDir string) (map[string]ExecutableSum, error) {
	raw, err := os.ReadFile(SumsPath(pluginDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseSums(raw)
}

func parseSums(raw []byte) (map[string]ExecutableSum, error) {
	var sf sumsFile
	if err := json.Unmarshal(raw, &sf); err != nil {
		return nil, err
	}
	if sf.Version != sumsVersion {
		return nil, fmt.Errorf("format version %d is not the one this mikrobill writes (%d)", sf.Version, sumsVersion)
	}
	return sf.Executables, nil
}

// LockSums answers, for a host's launches, whether a plugin directory's
// sums file vouches for an executable: it reads the file again only when
// its bytes changed (an install or `plugin lock` while the host runs).
type LockSums struct {
	dir string

	mu   sync.Mutex
	raw  []byte
	sums map[string]ExecutableSum
	err  error
}

// NewLockSums returns the sums of the plugin directory dir.
func NewLockSums(dir string) *LockSums { return &LockSums{dir: dir} }

// Path is the sums file's path.
func (l *LockSums) Path() string { return SumsPath(l.dir) }

// Known reports whether the sums file records a file of identity id hashed
// to sum. The error is that of a sums file that could not be read or
// parsed (and is then reported until its bytes change); Known is false.
func (l *LockSums) Known(id client.FileID, sum []byte) (bool, error) {
	raw, err := os.ReadFile(SumsPath(l.dir))
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.raw == nil || !bytes.Equal(raw, l.raw) {
		l.raw = raw
		l.sums, l.err = parseSums(raw)
	}
	if l.err != nil {
		return false, l.err
	}
	want := hex.EncodeToString(sum)
	for _, s := range l.sums {
		if s.ID == id && s.SHA256 == want {
			return true, nil
		}
	}
	return false, nil
}
