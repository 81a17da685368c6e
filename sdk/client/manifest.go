package client

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/mikrobill/mikrobill/sdk"
)

// ManifestFileName is the manifest's file name inside a plugin folder.
const ManifestFileName = "plugin.json"

// ExecutablePrefix is the default executable's name without the plugin
// name: a plugin "audit" whose plugin.json sets neither executable nor
// executables is started as "mikrobill-plugin-audit".
const ExecutablePrefix = "mikrobill-plugin-"

// Manifest is the part of a plugin's plugin.json that launching it needs:
// who the plugin is and which file to execute. The host reads and checks
// the whole file strictly (its manifest package, `mikrobill plugin
// validate`) and hands this part to ExecutableFor and CheckDescribe; the
// conformance kit reads only this part (ReadManifest). Both therefore pick
// the same executable and refuse the same disagreement with Describe.
type Manifest struct {
	// File is plugin.json's path (for messages); empty for a Manifest
	// built in code.
	File string `json:"-"`
	// Name, Version and Kind say who the plugin is; Describe must say the
	// same (CheckDescribe).
	Name    string `json:"name"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// Executable is the executable's path relative to the plugin folder.
	Executable string `json:"executable,omitempty"`
	// Executables maps "<GOOS>-<GOARCH>" to the executable for that
	// platform, instead of Executable.
	Executables map[string]string `json:"executables,omitempty"`
	// ConfigSchema is the JSON Schema of the plugin's settings, for
	// SecretSettings.
	ConfigSchema json.RawMessage `json:"config_schema,omitempty"`
}

// SecretSettings returns the names of the top-level settings that
// ConfigSchema marks secret, by the host's rule: a property with "format":
// "password" or "writeOnly": true. The conformance kit checks that their
// values never reach the plugin's logs. Nil when the schema declares none
// or does not parse (the host's validation reports that).
func (m *Manifest) SecretSettings() []string {
	var schema struct {
		Properties map[string]struct {
			Format    string `json:"format"`
			WriteOnly bool   `json:"writeOnly"`
		} `json:"properties"`
	}
	if len(m.ConfigSchema) == 0 || json.Unmarshal(m.ConfigSchema, &schema) != nil {
		return nil
	}
	var out []string
	for name, p := range schema.Properties {
		if p.Format == "password" || p.WriteOnly {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ReadManifest reads the launch part of the plugin.json in dir
// (ReadManifestFile's bounds, then JSON). Name and version must be set;
// every other field of the file is left to the host's stricter check.
func ReadManifest(dir string) (*Manifest, error) {
	file := filepath.Join(dir, ManifestFileName)
	raw, err := ReadManifestFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the manifest: %w", err)
	}
	m := &Manifest{File: file}
	if err := json.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m.Name == "" || m.Version == "" {
		return nil, fmt.Errorf("%s: name and version are required", file)
	}
	return m, nil
}

// ExecutableFor returns the path, relative to the plugin folder, of the
// executable to start on goos/goarch (runtime.GOOS and runtime.GOARCH):
// Executable when set, else "mikrobill-plugin-<name>" when Executables is
// empty, else Executables' entry for the platform. It fails when the
// manifest maps executables per platform and ships none for this one; the
// error lists the platforms it does ship for.
func (m *Manifest) ExecutableFor(goos, goarch string) (string, error) {
	if m.Executable != "" {
		return m.Executable, nil
	}
	if len(m.Executables) == 0 {
		return ExecutablePrefix + m.Name, nil
	}
	platform := goos + "-" + goarch
	if p, ok := m.Executables[platform]; ok {
		return p, nil
	}
	return "", fmt.Errorf("plugin %q ships no executable for %s, only for %s; get a build for %s from its publisher "+
		"(or, if you build it, add an \"executables\" entry for %s to its %s)", m.Name, platform,
		strings.Join(Platforms(m.Executables), ", "), platform, platform, ManifestFileName)
}

// Platforms returns the sorted "<GOOS>-<GOARCH>" keys of an executables
// map, or nil for an empty one.
func Platforms(executables map[string]string) []string {
	if len(executables) == 0 {
		return nil
	}
	ps := make([]string, 0, len(executables))
	for p := range executables {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// CheckDescribe compares what a plugin's executable says of itself
// (Describe) with its plugin.json: name, version and kind must be equal.
// The host refuses a plugin that disagrees at every launch, `mikrobill
// plugin validate` reports it, and the conformance kit fails its describe
// test with it: one check, one message, which names every field that
// differs and what to do.
func (m *Manifest) CheckDescribe(d *sdk.DescribeResponse) error {
	if d == nil {
		d = &sdk.DescribeResponse{}
	}
	var diffs []string
	for _, c := range []struct{ field, manifest, described string }{
		{"name", m.Name, d.Name}, {"version", m.Version, d.Version}, {"kind", m.Kind, d.Kind},
	} {
		if c.manifest != c.described {
			diffs = append(diffs, fmt.Sprintf("%s: Describe says %q, but %s says %q", c.field, c.described, ManifestFileName, c.manifest))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	file := m.File
	if file == "" {
		file = ManifestFileName
	}
	return fmt.Errorf("the executable's Describe and %s disagree: %s; the host refuses a plugin whose executable and %s disagree: "+
		"rebuild the plugin or correct %s so that both say the same", file, strings.Join(diffs, "; "), ManifestFileName, ManifestFileName)
}

// MaxManifestSize is the largest plugin.json the host and the conformance
// kit read: 1 MiB. A manifest is a few KiB even with a large config_schema.
const MaxManifestSize = 1 << 20

// ReadManifestFile reads a plugin's plugin.json for the host and the
// conformance kit alike, within bounds: path must be a regular file (or a
// symbolic link to one) of at most MaxManifestSize bytes. A named pipe, a
// device such as /dev/zero, a directory or a larger file is refused with an
// error that says so, without blocking and without reading more than
// MaxManifestSize+1 bytes. A missing file is an error wrapping
// fs.ErrNotExist.
func ReadManifestFile(path string) ([]byte, error) {
	return ReadRegularFile(path, MaxManifestSize, "a plugin manifest",
		"it is not a plugin's manifest, or it holds far more than one needs")
}

// ReadRegularFile reads a file the host trusts only as far as its bounds:
// path must be a regular file (or a symbolic link to one) of at most limit
// bytes. what names the file in errors ("a plugin manifest"), and tooBigHint
// says what an oversized one likely is. A named pipe is opened without
// blocking and refused, like a device or a directory; no more than limit+1
// bytes are ever read. A missing file is an error wrapping fs.ErrNotExist.
func ReadRegularFile(path string, limit int64, what, tooBigHint string) ([]byte, error) {
	// Non-blocking: opening a named pipe for reading would otherwise wait
	// for a writer, forever.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file; %s must be a regular file", path, FileKind(fi.Mode()), what)
	}
	tooBig := func(size string) error {
		return fmt.Errorf("%s is %s; %s may be at most %d bytes%s: %s", path, size, what, limit, mib(limit), tooBigHint)
	}
	if fi.Size() > limit {
		return nil, tooBig(fmt.Sprintf("%d bytes", fi.Size()))
	}
	// The size can lie (files in /proc say 0): read no more than allowed.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, tooBig("over " + strings.TrimSpace(strings.Trim(mib(limit), "()")))
	}
	return data, nil
}

// mib is " (N MiB)" for a whole number of MiB, else empty.
func mib(n int64) string {
	if n <= 0 || n%(1<<20) != 0 {
		return ""
	}
	return fmt.Sprintf(" (%d MiB)", n>>20)
}

// FileKind names, for an error a person reads, what a file that is not a
// regular file is: "a named pipe (FIFO)", "a directory", "a character
// device", ...
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	default:
		return fmt.Sprintf("a special file (mode %s)", m)
	}
}
