// Package lockfile reads and writes plugins.lock, the record of which plugin
// executables an operator has approved.
//
// plugins.lock lives in the plugin directory. `mikrobill plugin lock` writes
// it after the operator has reviewed what is installed; the host refuses,
// before executing it, any plugin whose executable is missing from the lock
// or differs from the SHA-256 recorded there.
//
//	{
//	  "version": 1,
//	  "plugins": {
//	    "payment-manual": {
//	      "version": "0.1.0",
//	      "executable": "mikrobill-plugin-payment-manual",
//	      "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//	    }
//	  }
//	}
package lockfile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// FileName is the lock file's name in the plugin directory.
const FileName = "plugins.lock"

// formatVersion is the lock file format this host writes and reads.
const formatVersion = 1

// Entry is one locked plugin.
type Entry struct {
	// Version is the plugin's manifest version when it was locked.
	Version string `json:"version"`
	// Executable is the executable's path relative to the plugin's folder.
	Executable string `json:"executable"`
	// SHA256 is the executable's SHA-256, hex encoded.
	SHA256 string `json:"sha256"`
}

// Sum returns the entry's checksum as bytes.
func (e Entry) Sum() ([]byte, error) {
	b, err := hex.DecodeString(e.SHA256)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("sha256 %q is not 64 hex digits", e.SHA256)
	}
	return b, nil
}

// File is the whole lock file.
type File struct {
	Version int              `json:"version"`
	Plugins map[string]Entry `json:"plugins"`
}

// Path returns the lock file's path in a plugin directory.
func Path(pluginDir string) string { return filepath.Join(pluginDir, FileName) }

// Read reads the lock file of a plugin directory. A missing file is an empty
// lock (every plugin will be refused until `mikrobill plugin lock` runs).
func Read(pluginDir string) (*File, error) {
	path := Path(pluginDir)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Version: formatVersion, Plugins: map[string]Entry{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err = dec.Decode(&f)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("unexpected content after the JSON object")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid lock file (%v); run `mikrobill plugin lock` to write it again", path, err)
	}
	if f.Version != formatVersion {
		return nil, fmt.Errorf("%s has format version %d, this host reads version %d; run `mikrobill plugin lock` to write it again", path, f.Version, formatVersion)
	}
	if f.Plugins == nil {
		f.Plugins = map[string]Entry{}
	}
	for name, e := range f.Plugins {
		if _, err := e.Sum(); err != nil {
			return nil, fmt.Errorf("%s: plugin %q: %v; run `mikrobill plugin lock %s`", path, name, err, name)
		}
	}
	return &f, nil
}

// Write writes the lock file atomically, plugins sorted by name.
func Write(pluginDir string, f *File) error {
	f.Version = formatVersion
	if f.Plugins == nil {
		f.Plugins = map[string]Entry{}
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	path := Path(pluginDir)
	tmp, err := os.CreateTemp(pluginDir, ".plugins-lock-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Names returns the locked plugin names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Plugins))
	for n := range f.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check returns the expected checksum for a plugin, or an error that tells
// the operator what to run.
func (f *File) Check(name, executable string) ([]byte, error) {
	e, ok := f.Plugins[name]
	if !ok {
		return nil, fmt.Errorf("plugin %q is not in %s; review it and run `mikrobill plugin lock %s` to approve it", name, FileName, name)
	}
	if e.Executable != executable {
		return nil, fmt.Errorf("plugin %q was locked with executable %q, its manifest now names %q; if that is intended, run `mikrobill plugin lock %s`", name, e.Executable, executable, name)
	}
	return e.Sum()
}
