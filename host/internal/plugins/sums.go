package plugins

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/lockfile"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// sumsFile, in the host's data directory, holds the executables' sums
// that launches computed (sumCache).
const sumsFile = "executable-sums.json"

// sumCache is the host's client.SumCache: what its launches hashed, by the
// executable's path, its file identity and its SHA-256, kept in the data
// directory (mode 0600) so that a host started again does not hash its
// plugins again. Only the newest identity of each path is kept, and only
// for paths that still exist when a host starts. An entry
// vouches for nothing by itself: a launch still compares the lock file's
// sum with the entry's, and a file rewritten since has another identity
// (client.SumCache). A file that cannot be read or written costs only the
// hashing it would have saved.
//
// It also asks the plugin directory's lock sums (lockfile.SumsFileName):
// the executables `mikrobill plugin lock` hashed as it locked them, which a
// host's first start on a fresh data directory finds checked already.
type sumCache struct {
	path string
	log  hclog.Logger
	lock *lockfile.LockSums // nil without a plugin directory

	mu       sync.Mutex
	entries  map[string]sumEntry // by executable path
	lockWarn string              // the lock sums' last error, logged once
}

type sumEntry struct {
	ID     client.FileID `json:"id"`
	SHA256 string        `json:"sha256"`
}

// openSumCache reads the sums saved in dataDir; a missing file is an empty
// cache, an unreadable one a warning and an empty cache. pluginDir's lock
// sums are read at each launch that finds nothing in dataDir's.
func openSumCache(dataDir, pluginDir string, log hclog.Logger) *sumCache {
	c := &sumCache{path: filepath.Join(dataDir, sumsFile), log: log, entries: map[string]sumEntry{}}
	if pluginDir != "" {
		c.lock = lockfile.NewLockSums(pluginDir)
	}
	raw, err := os.ReadFile(c.path)
	if err == nil {
		err = json.Unmarshal(raw, &c.entries)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("the executables' saved sums are ignored; each plugin's executable is hashed at its launch, and the file is written again", "file", c.path, "error", err)
		c.entries = map[string]sumEntry{}
	}
	// Executables removed since (a plugin removed, an old version's
	// folder pruned) are forgotten at the next save.
	for path := range c.entries {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			delete(c.entries, path)
		}
	}
	return c
}

// Known implements client.SumCache.
func (c *sumCache) Known(path string, id client.FileID, sum []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[path]; ok && e.ID == id && e.SHA256 == hex.EncodeToString(sum) {
		return true
	}
	if c.lock == nil {
		return false
	}
	known, err := c.lock.Known(id, sum)
	if err != nil && err.Error() != c.lockWarn {
		c.log.Warn("the plugin directory's lock sums are ignored; each plugin's executable is hashed at its launch. Run `mikrobill plugin lock` to write them again",
			"file", c.lock.Path(), "error", err)
	}
	if err != nil {
		c.lockWarn = err.Error()
	} else {
		c.lockWarn = ""
	}
	return known
}

// hashedBefore says whether a launch or a read ahead hashed an executable
// at this path before (of any identity): the plugin ran here before, or its
// settings fitted then.
func (c *sumCache) hashedBefore(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[path]
	return ok
}

// Hashed implements client.SumCache, saving the file at once.
func (c *sumCache) Hashed(path string, id client.FileID, sum []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[path] = sumEntry{ID: id, SHA256: hex.EncodeToString(sum)}
	if err := c.save(); err != nil {
		c.log.Warn("the executable's sum is not saved; it is hashed again at the host's next start", "file", c.path, "error", err)
	}
}

// save writes the entries through a temporary file and a rename (no sync:
// a lost file only costs hashing again).
func (c *sumCache) save() error {
	raw, err := json.MarshalIndent(c.entries, "", "  ")
	if err != nil {
		return err
	}
	// A host creates its data directory as it opens the store; the read
	// ahead (Ahead) may save before that.
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}
