package pluginstall

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

// DirSource is a folder on disk that holds one plugin folder (plugin.json
// and its executable), or a folder of plugin folders (named anything: a
// folder per version, "payment-x-1.0.0", "payment-x-2.0.0", works). It
// is what `mikrobill plugin install NAME --from DIR` installs from. Its
// folders are trusted as the operator's own: nothing is signed; the
// installer still checks the manifest, the handshake and this host's
// compatibility before placing it.
type DirSource struct {
	// Dir is the folder.
	Dir string
}

var _ Source = DirSource{}

// Name is the folder's path.
func (s DirSource) Name() string { return s.Dir }

// found is one plugin folder of the source.
type found struct {
	dir string
	man *manifest.Manifest
}

// folders lists the source's plugin folders; folders whose manifests do
// not load are left out of a folder of folders but refused when the
// source is one plugin folder.
func (s DirSource) folders() ([]found, error) {
	if _, err := os.Stat(filepath.Join(s.Dir, manifest.FileName)); err == nil {
		m, err := manifest.Load(s.Dir)
		if err != nil {
			return nil, err
		}
		return []found{{s.Dir, m}}, nil
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("read plugin source folder: %w", err)
	}
	var out []found
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(s.Dir, e.Name())
		if _, err := os.Stat(filepath.Join(dir, manifest.FileName)); err != nil {
			continue
		}
		if m, err := manifest.Load(dir); err == nil {
			out = append(out, found{dir, m})
		}
	}
	return out, nil
}

func listing(m *manifest.Manifest) Listing {
	return Listing{
		Name: m.Name, Version: m.Version, Kind: m.Kind, Description: m.Description,
		MinHostVersion: m.MinHostVersion, ProtocolVersions: m.ProtocolVersions, OS: runtime.GOOS, Arch: runtime.GOARCH,
	}
}

// Search lists the plugin folders whose name or description contains text.
func (s DirSource) Search(_ context.Context, text string) ([]Listing, error) {
	fs, err := s.folders()
	if err != nil {
		return nil, err
	}
	text = strings.ToLower(text)
	var out []Listing
	for _, f := range fs {
		if text == "" || strings.Contains(strings.ToLower(f.man.Name), text) || strings.Contains(strings.ToLower(f.man.Description), text) {
			l := listing(f.man)
			l.Length, _ = folderSize(f.dir)
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return newer(out[j].Version, out[i].Version)
	})
	return out, nil
}

// newer reports whether version a is newer than b (semver; text when not).
func newer(a, b string) bool {
	va, errA := semver.NewVersion(a)
	vb, errB := semver.NewVersion(b)
	if errA != nil || errB != nil {
		return a > b
	}
	return va.GreaterThan(vb)
}

// Fetch copies the folder of name at version (the newest when "") into
// dst.
func (s DirSource) Fetch(ctx context.Context, name, version, dst string, progress Progress) (Listing, error) {
	fs, err := s.folders()
	if err != nil {
		return Listing{}, err
	}
	var pick *found
	for i, f := range fs {
		if f.man.Name != name || (version != "" && f.man.Version != version) {
			continue
		}
		if pick == nil || newer(f.man.Version, pick.man.Version) {
			pick = &fs[i]
		}
	}
	if pick == nil && len(fs) == 1 && version == "" {
		// One plugin folder whose name is not the one asked: copy it, so
		// the installer refuses it by name with both names in its message.
		pick = &fs[0]
	}
	if pick == nil {
		what := name
		if version != "" {
			what += "@" + version
		}
		return Listing{}, fmt.Errorf("%w: %s holds no plugin %s; `mikrobill plugin search --from %s` lists what it holds", ErrNotFound, s.Dir, what, s.Dir)
	}
	total, err := folderSize(pick.dir)
	if err != nil {
		return Listing{}, err
	}
	if err := copyTree(ctx, pick.dir, dst, total, progress); err != nil {
		return Listing{}, err
	}
	l := listing(pick.man)
	l.Length = total
	return l, nil
}

// folderSize is the bytes of the regular files under dir.
func folderSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// copyTree copies the regular files and folders under src into dst (which
// exists), keeping their permission bits. A symbolic link or any other
// kind of file is refused: a plugin folder on disk is copied as its files.
func copyTree(ctx context.Context, src, dst string, total int64, progress Progress) error {
	var done int64
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil || rel == "." {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(to, info.Mode().Perm()|0o700)
		case d.Type().IsRegular():
			n, err := copyFile(path, to, info.Mode().Perm())
			done += n
			if progress != nil {
				progress(done, total)
			}
			return err
		default:
			return fmt.Errorf("%s is a %s, not a regular file or folder; copy the plugin folder without it", path, info.Mode().Type())
		}
	})
}

func copyFile(from, to string, perm fs.FileMode) (int64, error) {
	in, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
