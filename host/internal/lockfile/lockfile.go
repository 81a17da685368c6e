// Package lockfile reads and writes plugins.lock, the record of which plugin
// folders an operator has approved.
//
// plugins.lock lives in the plugin directory. `mikrobill plugin lock` writes
// it after the operator has reviewed what is installed: for each plugin, its
// version, its executable and that executable's SHA-256, and the whole
// plugin folder: every file's path, mode and SHA-256, summed up in one
// folder hash. The host refuses, before executing it, any plugin that is
// missing from the lock or whose folder differs from it in any file (an
// added, removed or modified file, a changed mode), and it executes exactly
// the executable bytes it checked (sdk/client.Start).
//
//	{
//	  "version": 2,
//	  "plugins": {
//	    "payment-manual": {
//	      "version": "0.1.0",
//	      "executable": "mikrobill-plugin-payment-manual",
//	      "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
//	      "folder_sha256": "186ea6a01512589bea55b75fe86a5e55dc1d3640df769a9835189623d20a695c",
//	      "files": [
//	        {"path": "mikrobill-plugin-payment-manual", "mode": "0755", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
//	        {"path": "plugin.json", "mode": "0644", "sha256": "dc34123bf8bc51edd469d983470c854ea4397bf6377ca8c749da6d1de77abb9d"}
//	      ]
//	    }
//	  }
//	}
//
// Start with [Lock] (what `plugin lock` records for one folder), [Scan] and
// [Entry.Compare] (what the host checks before every launch), and [Read] and
// [Write]. Lock files of format version 1, which pinned only the
// executable, are still read; their entries are refused with a message to
// review the plugin and lock it again ([File.Check]).
package lockfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/mikrobill/mikrobill/host/internal/jsonkeys"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// MaxSize is the largest plugins.lock the host reads: 64 MiB, room for
// hundreds of thousands of files.
const MaxSize = 64 << 20

// FileName is the lock file's name in the plugin directory.
const FileName = "plugins.lock"

// Lock file format versions. This host writes formatVersion and reads both.
const (
	formatVersion = 2
	// legacyVersion pinned only each plugin's executable.
	legacyVersion = 1
)

// ModeSymlink is FileEntry.Mode of a symbolic link.
const ModeSymlink = "symlink"

// Entry is one locked plugin.
type Entry struct {
	// Version is the plugin's manifest version when it was locked.
	Version string `json:"version"`
	// Executable is the executable's path relative to the plugin's folder.
	Executable string `json:"executable"`
	// SHA256 is the executable's SHA-256, hex encoded (of the file a
	// symbolic link leads to, when the executable is one).
	SHA256 string `json:"sha256"`
	// FolderSHA256 is the folder hash of Files ([FolderSHA256]). Empty in
	// an entry of format version 1, which pinned only the executable.
	FolderSHA256 string `json:"folder_sha256,omitempty"`
	// Files are every file of the plugin's folder, sorted by path.
	Files []FileEntry `json:"files,omitempty"`
}

// FileEntry is one file of a locked plugin folder.
type FileEntry struct {
	// Path is relative to the folder, with forward slashes.
	Path string `json:"path"`
	// Mode is the permission bits in octal ("0755"), with the setuid,
	// setgid and sticky bits, or ModeSymlink.
	Mode string `json:"mode"`
	// SHA256 is the content's SHA-256, hex encoded; a symbolic link's is
	// that of the path it holds.
	SHA256 string `json:"sha256"`
}

// Legacy reports whether the entry comes from a lock file of format
// version 1, which pinned only the executable.
func (e Entry) Legacy() bool { return e.FolderSHA256 == "" }

// Sum returns the executable's checksum as bytes.
func (e Entry) Sum() ([]byte, error) { return decodeSum(e.SHA256) }

func decodeSum(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("sha256 %q is not 64 hex digits", s)
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
// lock (every plugin will be refused until `mikrobill plugin lock` runs). A
// file of format version 1 is read; its entries are [Entry.Legacy].
func Read(pluginDir string) (*File, error) {
	path, raw, err := readRaw(pluginDir)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return empty(), nil
	}
	return parse(path, raw)
}

// readRaw reads the bytes of a plugin directory's lock file: nil bytes and
// no error when there is none.
func readRaw(pluginDir string) (string, []byte, error) {
	path := Path(pluginDir)
	raw, err := client.ReadRegularFile(path, MaxSize, "plugins.lock",
		"it is not a lock file mikrobill wrote; move it away and run `mikrobill plugin lock`")
	if errors.Is(err, os.ErrNotExist) {
		return path, nil, nil
	}
	if err != nil {
		return path, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return path, raw, nil
}

// empty is the lock of a plugin directory without a lock file.
func empty() *File { return &File{Version: formatVersion, Plugins: map[string]Entry{}} }

// ReadShared is [Read] for callers that only read the result: a lock file
// whose bytes are those of the last one ReadShared parsed at that path is
// not parsed again, and the same *File is returned. The host checks each
// plugin against the lock twice (at admission and right before its launch),
// and every check read and parsed the whole file: with nine plugins that
// was eighteen parses of one file during a start (docs/BENCHMARKS.md).
// The bytes are read every time, so a changed file is parsed again.
// Callers must not modify the *File.
func ReadShared(pluginDir string) (*File, error) {
	path, raw, err := readRaw(pluginDir)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return empty(), nil
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.file != nil && shared.path == path && bytes.Equal(shared.raw, raw) {
		return shared.file, nil
	}
	f, err := parse(path, raw)
	if err != nil {
		return nil, err
	}
	shared.path, shared.raw, shared.file = path, raw, f
	return f, nil
}

// shared is the lock file ReadShared parsed last.
var shared struct {
	mu   sync.Mutex
	path string
	raw  []byte
	file *File
}

// parse reads the content of the lock file at path (which errors name).
func parse(path string, raw []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&f)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("unexpected content after the JSON object")
		}
	}
	if err == nil {
		err = strictKeys(raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid lock file (%v); run `mikrobill plugin lock` to write it again", path, err)
	}
	if f.Version != formatVersion && f.Version != legacyVersion {
		return nil, fmt.Errorf("%s has format version %d, this host reads versions %d and %d; run `mikrobill plugin lock` to write it again", path, f.Version, legacyVersion, formatVersion)
	}
	if f.Plugins == nil {
		f.Plugins = map[string]Entry{}
	}
	for name, e := range f.Plugins {
		if err := e.check(f.Version); err != nil {
			return nil, fmt.Errorf("%s: plugin %q: %v; run `mikrobill plugin lock %s`", path, name, err, name)
		}
	}
	return &f, nil
}

// check checks an entry read from a file of the given format version.
func (e Entry) check(version int) error {
	if _, err := e.Sum(); err != nil {
		return err
	}
	if version == legacyVersion || (e.FolderSHA256 == "" && len(e.Files) == 0) {
		if e.FolderSHA256 != "" || len(e.Files) > 0 {
			return errors.New("an entry of format version 1 has no folder_sha256 or files")
		}
		return nil // legacy: refused by Check with what to do
	}
	if len(e.Files) == 0 {
		return errors.New("folder_sha256 is set but files is empty")
	}
	for i, fe := range e.Files {
		if err := fe.check(); err != nil {
			return fmt.Errorf("files[%d]: %v", i, err)
		}
		if i > 0 && e.Files[i-1].Path >= fe.Path {
			return fmt.Errorf("files[%d]: %q is out of order or listed twice", i, fe.Path)
		}
	}
	if got := FolderSHA256(e.Files); got != e.FolderSHA256 {
		return fmt.Errorf("folder_sha256 %s is not the hash of its files (%s): the entry was edited", e.FolderSHA256, got)
	}
	return nil
}

func (fe FileEntry) check() error {
	if !fs.ValidPath(fe.Path) || fe.Path == "." || strings.ContainsAny(fe.Path, "\n\r") {
		return fmt.Errorf("path %q is not a clean relative path", fe.Path)
	}
	if fe.Mode != ModeSymlink {
		if n, err := strconv.ParseUint(fe.Mode, 8, 32); err != nil || n > 0o7777 || len(fe.Mode) != 4 {
			return fmt.Errorf("mode %q is neither four octal digits nor %q", fe.Mode, ModeSymlink)
		}
	}
	_, err := decodeSum(fe.SHA256)
	return err
}

// Write writes the lock file atomically in the current format, plugins
// sorted by name.
func Write(pluginDir string, f *File) error {
	f.Version = formatVersion
	if f.Plugins == nil {
		f.Plugins = map[string]Entry{}
	}
	raw, err := encode(f)
	if err != nil {
		return err
	}
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

// encode is the lock file's content as Write writes it.
func encode(f *File) ([]byte, error) {
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
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

// Check returns a plugin's entry, or an error that tells the operator what
// to run: the plugin is not locked, was locked with another executable, or
// was locked by format version 1, which pinned only its executable. The
// folder itself is compared with [Entry.Compare].
func (f *File) Check(name, executable string) (Entry, error) {
	e, ok := f.Plugins[name]
	if !ok {
		return Entry{}, fmt.Errorf("plugin %q is not in %s; review it and run `mikrobill plugin lock %s` to approve it", name, FileName, name)
	}
	if e.Legacy() {
		return Entry{}, fmt.Errorf("plugin %q was locked by an older mikrobill that pinned only its executable (%s format version 1); "+
			"the lock now pins the whole plugin folder: review the folder and run `mikrobill plugin lock %s`", name, FileName, name)
	}
	if e.Executable != executable {
		return Entry{}, fmt.Errorf("plugin %q was locked with executable %q, its manifest now names %q; if that is intended, run `mikrobill plugin lock %s`", name, e.Executable, executable, name)
	}
	return e, nil
}

// Lock scans a plugin folder ([Scan], leaving out the skip directories) and
// returns the entry that approves it as it is now, with executable (a path
// relative to the folder, with forward slashes) as its executable.
func Lock(dir, version, executable string, skip ...string) (Entry, error) {
	e, _, err := LockSum(dir, version, executable, skip...)
	return e, err
}

// LockSum is [Lock], and also returns the executable's entry for the sums
// file ([WriteSums]): the identity the file had when it was hashed, with
// its sum. That is nil where no identity is taken (outside Linux).
func LockSum(dir, version, executable string, skip ...string) (Entry, *ExecutableSum, error) {
	ids := map[string]client.FileID{}
	files, err := scan(dir, skip, "", "", ids)
	if err != nil {
		return Entry{}, nil, err
	}
	sum, rel, err := executableSum(dir, executable, files)
	if err != nil {
		return Entry{}, nil, err
	}
	e := Entry{Version: version, Executable: executable, SHA256: sum, FolderSHA256: FolderSHA256(files), Files: files}
	var es *ExecutableSum
	if id, ok := ids[rel]; ok {
		es = &ExecutableSum{Executable: executable, ID: id, SHA256: sum}
	}
	return e, es, nil
}

// executableSum finds the executable's checksum among the folder's files,
// following a symbolic link (Scan has checked that it stays inside), and
// the path of the file it is in the folder.
func executableSum(dir, executable string, files []FileEntry) (sum, path string, err error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", fmt.Errorf("plugin folder: %w", err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(dir, filepath.FromSlash(executable)))
	if err != nil {
		return "", "", fmt.Errorf("executable %q: %w", executable, err)
	}
	rel, err := filepath.Rel(root, real)
	if err == nil {
		rel = filepath.ToSlash(rel)
		for _, fe := range files {
			if fe.Path == rel && fe.Mode != ModeSymlink {
				return fe.SHA256, rel, nil
			}
		}
	}
	return "", "", fmt.Errorf("executable %q is not a file of the plugin folder %s", executable, dir)
}

// FolderSHA256 is the folder hash of a file list: the SHA-256, hex encoded,
// of one line "<sha256>  <mode>  <path>\n" per file, in the order given
// (Scan's: by path). It is go.sum's h1: directory hash with each file's mode
// added.
func FolderSHA256(files []FileEntry) string {
	h := sha256.New()
	for _, fe := range files {
		fmt.Fprintf(h, "%s  %s  %s\n", fe.SHA256, fe.Mode, fe.Path)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Scan lists every file of a plugin folder, sorted by path: regular files
// with their mode and content hash, and symbolic links with the hash of the
// path they hold. Directories are walked but not listed; a directory whose
// absolute path is in skip (the host's data or runtime directory, should
// one lie inside the folder) is left out.
//
// A folder that cannot be pinned is an error that names the file: a
// symbolic link that leads outside the folder or nowhere, a named pipe,
// socket or device, a name with a line break. Files are opened without
// blocking and never followed out of the folder.
func Scan(dir string, skip ...string) ([]FileEntry, error) {
	return scan(dir, skip, "", "", nil)
}

// ChangesBeforeLaunch is Compare(Scan(dir, skip...)) for a launch, except
// that the executable's bytes are not read here: its presence, type and
// mode are compared, and its content is left to the launcher, which checks
// it on the very file it executes (sdk/client.Config.SHA256, with
// [Entry.Sum]). Every other file is read and compared, right before the
// launch.
func (e Entry) ChangesBeforeLaunch(dir string, skip ...string) ([]Change, error) {
	unread := ""
	if root, err := filepath.EvalSymlinks(dir); err == nil {
		if real, err := filepath.EvalSymlinks(filepath.Join(dir, filepath.FromSlash(e.Executable))); err == nil {
			if rel, err := filepath.Rel(root, real); err == nil && inside(root, real) {
				unread = filepath.ToSlash(rel)
			}
		}
	}
	files, err := scan(dir, skip, unread, e.SHA256, nil)
	if err != nil {
		return nil, err
	}
	return e.Compare(files), nil
}

// scan is Scan; the regular file at path unread (relative, with forward
// slashes) is listed with unreadSum as its content hash instead of being
// read. When ids is not nil it receives, by path, the identity of each
// regular file it hashed (client.Identify), taken before the file was read.
func scan(dir string, skip []string, unread, unreadSum string, ids map[string]client.FileID) ([]FileEntry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin folder %s: %w", dir, err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("plugin folder %s: %w", dir, err)
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		if a, err := filepath.Abs(s); err == nil {
			skipped[a] = true
		}
	}
	var files []FileEntry
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == abs {
			return nil
		}
		if skipped[path] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(abs, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if strings.ContainsAny(rel, "\n\r") {
			return fmt.Errorf("%q has a line break in its name; rename it", path)
		}
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			real, err := filepath.EvalSymlinks(path)
			if err != nil {
				return fmt.Errorf("%s is a symbolic link to %s, which does not resolve (%v); remove it or make it lead to a file in the plugin folder", path, target, err)
			}
			if !inside(root, real) {
				return fmt.Errorf("%s is a symbolic link to %s, outside the plugin folder; plugins.lock pins only what is inside "+
					"the folder, so the host refuses it: put the file itself in the folder", path, real)
			}
			sum := sha256.Sum256([]byte(target))
			files = append(files, FileEntry{Path: rel, Mode: ModeSymlink, SHA256: hex.EncodeToString(sum[:])})
		case t.IsRegular() && rel == unread:
			info, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, FileEntry{Path: rel, Mode: unixMode(info.Mode()), SHA256: unreadSum})
		case t.IsRegular():
			fe, id, identified, err := hashFile(path)
			if err != nil {
				return err
			}
			fe.Path = rel
			files = append(files, fe)
			if identified && ids != nil {
				ids[rel] = id
			}
		default:
			return fmt.Errorf("%s is %s; a plugin folder holds only files, folders and symbolic links", path, client.FileKind(t))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plugin folder %s: %w", dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// hashFile hashes a regular file read from one open descriptor, with the
// mode of that same file, and returns the identity that file had before it
// was read (client.Identify; false where none is taken).
func hashFile(path string) (FileEntry, client.FileID, bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return FileEntry{}, client.FileID{}, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return FileEntry{}, client.FileID{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return FileEntry{}, client.FileID{}, false, fmt.Errorf("%s is %s; a plugin folder holds only files, folders and symbolic links", path, client.FileKind(fi.Mode().Type()))
	}
	id, identified := client.Identify(fi)
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return FileEntry{}, client.FileID{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	return FileEntry{Mode: unixMode(fi.Mode()), SHA256: hex.EncodeToString(h.Sum(nil))}, id, identified, nil
}

// unixMode formats the permission bits with setuid, setgid and sticky as
// four octal digits.
func unixMode(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}

// inside reports whether path is root or lies under it.
func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Change is one difference between a locked folder and the folder now.
type Change struct {
	// Path is the file's path relative to the folder.
	Path string `json:"path"`
	// Kind is "added", "removed" or "modified".
	Kind string `json:"kind"`
	// Detail says what was modified: "content", "mode 0644 -> 0755",
	// "link target", ...; empty for added and removed files.
	Detail string `json:"detail,omitempty"`
}

// Kinds of Change.
const (
	Added    = "added"
	Removed  = "removed"
	Modified = "modified"
)

// String is "modified main.js (content)", "added evil.js".
func (c Change) String() string {
	if c.Detail != "" {
		return fmt.Sprintf("%s %s (%s)", c.Kind, c.Path, c.Detail)
	}
	return c.Kind + " " + c.Path
}

// Compare lists how files (a [Scan] of the folder now) differ from the
// locked folder, by path; none when the folder is as it was locked. A
// legacy entry has no file list: everything is "added".
func (e Entry) Compare(files []FileEntry) []Change {
	if e.FolderSHA256 != "" && FolderSHA256(files) == e.FolderSHA256 {
		return nil
	}
	was := make(map[string]FileEntry, len(e.Files))
	for _, fe := range e.Files {
		was[fe.Path] = fe
	}
	var changes []Change
	for _, now := range files {
		old, ok := was[now.Path]
		delete(was, now.Path)
		switch {
		case !ok:
			changes = append(changes, Change{Path: now.Path, Kind: Added})
		case old != now:
			changes = append(changes, Change{Path: now.Path, Kind: Modified, Detail: modification(old, now)})
		}
	}
	for path := range was {
		changes = append(changes, Change{Path: path, Kind: Removed})
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes
}

// modification says how a file changed.
func modification(old, now FileEntry) string {
	switch {
	case old.Mode == ModeSymlink && now.Mode != ModeSymlink:
		return "was a symbolic link, now a file"
	case old.Mode != ModeSymlink && now.Mode == ModeSymlink:
		return "was a file, now a symbolic link"
	case old.Mode == ModeSymlink:
		return "link target"
	}
	var what []string
	if old.SHA256 != now.SHA256 {
		what = append(what, "content")
	}
	if old.Mode != now.Mode {
		what = append(what, "mode "+old.Mode+" -> "+now.Mode)
	}
	return strings.Join(what, ", ")
}

// Summary lists changes in one line for a message: "modified main.js
// (content), added evil.js"; past ten, the rest are counted.
func Summary(changes []Change) string {
	const shown = 10
	parts := make([]string, 0, shown+1)
	for i, c := range changes {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(changes)-shown))
			break
		}
		parts = append(parts, c.String())
	}
	return strings.Join(parts, ", ")
}

// Fields by where they are: the lock file's, a plugin entry's (under
// plugins.<name>) and a file's (under plugins.<name>.files[i]).
var (
	lockFields  = []string{"version", "plugins"}
	entryFields = []string{"version", "executable", "sha256", "folder_sha256", "files"}
	fileFields  = []string{"path", "mode", "sha256"}
)

// strictKeys refuses what encoding/json reads without a word but a person
// reading the file would read otherwise: a key given twice in one object
// (the last one wins), and a field's name in another case ("SHA256" for
// "sha256": encoding/json matches names regardless of case). raw has
// decoded already.
func strictKeys(raw []byte) error {
	return jsonkeys.Walk(raw, func(path []jsonkeys.Step, key string, before []string) error {
		var fields []string
		switch {
		case len(path) == 0:
			fields = lockFields
		case len(path) == 2 && path[0] == "plugins":
			fields = entryFields
		case len(path) == 4 && path[0] == "plugins" && path[2] == "files":
			fields = fileFields
		}
		if fields == nil {
			// The plugins by name (and anything decoding refused
			// already): a name given twice.
			if slices.Contains(before, key) {
				return fmt.Errorf("the key %q appears twice in one object (the last one would win)", key)
			}
			return nil
		}
		// A field: names that differ only in case are one field.
		if slices.ContainsFunc(before, func(b string) bool { return strings.EqualFold(b, key) }) {
			return fmt.Errorf("the key %q appears twice in one object (encoding/json takes names regardless of case; the last one would win)", key)
		}
		if !slices.Contains(fields, key) {
			if i := slices.IndexFunc(fields, func(f string) bool { return strings.EqualFold(f, key) }); i >= 0 {
				return fmt.Errorf("the key %q is written %q in a lock file", key, fields[i])
			}
		}
		return nil
	})
}
