package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

// Found is one plugin folder in the plugin directory.
type Found struct {
	// Name is the manifest's name, or the folder's name when the manifest
	// could not be read.
	Name string
	// Dir is the plugin's folder.
	Dir string
	// Manifest is nil when Err is set.
	Manifest *manifest.Manifest
	// Err says what is wrong with the folder's manifest or executable.
	Err error
	// Required is what plugin.json says of "required" (true unless it says
	// false), read even from a manifest with problems, so that a broken
	// plugin that says "required": false does not stop the host. It is
	// false when plugin.json is not a JSON object at all (unreadable, not
	// JSON, not a regular file, too large): then only the configuration
	// can make the plugin required.
	Required bool
	// RequiredIn is what plugin.json says of "required" when it names the
	// environments the plugin is required in (manifest.RequiredIn).
	RequiredIn manifest.Environment
}

// IsRequiredIn reports whether plugin.json makes the plugin required in
// the environment env (before the configuration's override).
func (f Found) IsRequiredIn(env string) bool {
	if f.RequiredIn != nil {
		return slices.Contains(f.RequiredIn, env)
	}
	return f.Required
}

// Discover lists the plugin folders under dir: every folder holding a
// plugin.json. Folders whose names start with a dot are the installer's
// (.versions, .staging: host/internal/pluginstall) and never plugins. Each
// manifest is loaded and checked; a folder with problems is returned with
// Err set so it can be reported rather than silently skipped, and never
// keeps the others from loading. A missing dir is an error that says how to
// fix it.
//
// The manifests are loaded concurrently, one per core at a time: checking
// one compiles its config_schema (about 1 ms of CPU, most of it checking the
// schema against JSON Schema's own), and a host's start waits for all of
// them before it launches any plugin (docs/BENCHMARKS.md, "/ready"). serve
// reads them while its store opens (ReadAhead).
func Discover(dir string) ([]Found, error) {
	return discover(dir, runtime.GOMAXPROCS(0))
}

// discover is Discover loading at most workers manifests at a time.
func discover(dir string, workers int) ([]Found, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("plugin directory %s does not exist; run `make build`, or point --plugin-dir (or MIKROBILL_PLUGIN_DIR) at the folder that holds the plugins", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read plugin directory: %w", err)
	}
	var folders []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), manifest.FileName)); err != nil {
			continue
		}
		folders = append(folders, e.Name())
	}
	out := make([]Found, len(folders))
	var wg sync.WaitGroup
	turns := make(chan struct{}, max(workers, 1))
	for i, name := range folders {
		turns <- struct{}{}
		wg.Go(func() {
			defer func() { <-turns }()
			out[i] = load(dir, name)
		})
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

// load loads and checks the manifest of the folder name under dir.
func load(dir, name string) Found {
	pdir := filepath.Join(dir, name)
	m, err := manifest.Load(pdir)
	f := Found{Name: name, Dir: pdir, Manifest: m, Err: err}
	if m != nil {
		f.Required, f.RequiredIn = m.IsRequired(), m.RequiredIn
		if m.Name != "" {
			f.Name = m.Name
		}
	}
	if err != nil {
		f.Manifest = nil
	}
	return f
}
