package marketplace

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// Custom is a target's custom metadata: who the plugin is, for which
// platform, and what it needs of a host. It is signed with the target.
type Custom struct {
	Name             string `json:"name"`
	Version          string `json:"version"`
	Kind             string `json:"kind"`
	Description      string `json:"description"`
	Publisher        string `json:"publisher"`
	Summary          string `json:"summary"`
	MinHostVersion   string `json:"min_host_version"`
	ProtocolVersions []int  `json:"protocol_versions"`
	OS               string `json:"os"`
	Arch             string `json:"arch"`
}

// listing is c as a pluginstall.Listing of the marketplace source.
func (c Custom) listing(source string, length int64) pluginstall.Listing {
	return pluginstall.Listing{Source: source, Name: c.Name, Version: c.Version, Kind: c.Kind, Description: c.Description,
		Publisher: c.Publisher, Summary: c.Summary, MinHostVersion: c.MinHostVersion,
		ProtocolVersions: slices.Clone(c.ProtocolVersions), OS: c.OS, Arch: c.Arch, Length: length}
}

// PublishOptions are Publish's choices.
type PublishOptions struct {
	// Key is the key file of the delegated role that signs the plugin's
	// name; empty signs with the top-level targets key in keys/.
	Key string
	// Publisher overrides the publisher's name: by default the
	// marketplace's (init --publisher) for the top-level targets, the
	// role's name for a delegated role.
	Publisher string
	// OS and Arch say which platform a plugin folder with one executable
	// was built for; by default they are read from the executable (ELF,
	// Mach-O or PE).
	OS, Arch string
}

// Published is one archive Publish signed in.
type Published struct {
	Path   string `json:"path"` // the target path
	Role   string `json:"role"` // the role that signed it
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
	Custom Custom `json:"custom"`
	// Unchanged: the same archive was published already.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Publish archives the plugin folder dir, one tar.gz per platform (per
// entry of the manifest's "executables", each without the other
// platforms' executables; or the folder as it is, for the platform its
// executable was built for), adds each as a target with its Custom
// metadata, signs the role responsible for the name, and writes new
// snapshot and timestamp metadata. A version once published cannot change.
func (r *Repo) Publish(dir string, opt PublishOptions) ([]Published, error) {
	mfile := filepath.Join(dir, manifest.FileName)
	data, err := os.ReadFile(mfile)
	if err != nil {
		return nil, fmt.Errorf("%s is not a plugin folder: %w", dir, err)
	}
	m, err := manifest.Parse(mfile, data)
	if err != nil {
		return nil, fmt.Errorf("fix the manifest before publishing:\n%w", err)
	}
	m.Dir = dir
	role, k, err := r.signerFor(m.Name, opt.Key)
	if err != nil {
		return nil, err
	}
	publisher := opt.Publisher
	if publisher == "" {
		publisher = r.publisher
		if role != metadata.TARGETS {
			publisher = role
		}
	}
	type build struct{ goos, goarch, exe string }
	var builds []build
	if plats := m.Platforms(); len(plats) > 0 {
		for _, p := range plats {
			exe := m.Executables[p]
			if !fileExists(filepath.Join(dir, filepath.FromSlash(exe))) {
				continue
			}
			goos, goarch, _ := strings.Cut(p, "-")
			builds = append(builds, build{goos, goarch, exe})
		}
		if len(builds) == 0 {
			return nil, fmt.Errorf("%s: none of the executables the manifest names (%s) is in the folder; build them first", dir, strings.Join(plats, ", "))
		}
	} else {
		exe, err := m.ExecutableFor("", "")
		if err != nil {
			return nil, err
		}
		goos, goarch := opt.OS, opt.Arch
		if goos == "" || goarch == "" {
			dos, darch, err := DetectPlatform(filepath.Join(dir, filepath.FromSlash(exe)))
			if err != nil {
				return nil, fmt.Errorf("%w; say which platform it was built for with --os and --arch", err)
			}
			goos, goarch = orDefault(goos, dos), orDefault(goarch, darch)
		}
		builds = append(builds, build{goos, goarch, exe})
	}
	allExes := map[string]bool{}
	for _, exe := range m.Executables {
		allExes[exe] = true
	}
	t := r.targets[role]
	var out []Published
	changed := false
	for _, b := range builds {
		skip := map[string]bool{}
		for exe := range allExes {
			if exe != b.exe {
				skip[exe] = true
			}
		}
		archive, err := Archive(dir, skip)
		if err != nil {
			return nil, err
		}
		c := Custom{Name: m.Name, Version: m.Version, Kind: m.Kind, Description: m.Description, Publisher: publisher,
			Summary: Summarize(m), MinHostVersion: m.MinHostVersion, ProtocolVersions: m.ProtocolVersions, OS: b.goos, Arch: b.goarch}
		tp := targetPath(m.Name, m.Version, b.goos, b.goarch)
		tf, err := metadata.TargetFile().FromBytes(tp, archive, "sha256")
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		rm := json.RawMessage(raw)
		tf.Custom = &rm
		sum := hex.EncodeToString(tf.Hashes["sha256"])
		p := Published{Path: tp, Role: role, Length: tf.Length, SHA256: sum, Custom: c}
		if prev := r.findTarget(tp); prev != nil {
			if prev.Equal(*tf) {
				p.Unchanged = true
				out = append(out, p)
				continue
			}
			return nil, fmt.Errorf("%s %s for %s/%s is published already with other contents; a published version never changes: raise the version in %s", m.Name, m.Version, b.goos, b.goarch, mfile)
		}
		file := r.repoPath(filepath.Join(targetsDir, filepath.FromSlash(path.Dir(tp)), sum+"."+path.Base(tp)))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(file, archive, 0o644); err != nil {
			return nil, err
		}
		if t.Signed.Targets == nil {
			t.Signed.Targets = map[string]*metadata.TargetFiles{}
		}
		t.Signed.Targets[tp] = tf
		changed = true
		out = append(out, p)
	}
	if !changed {
		return out, nil
	}
	if err := r.bumpTargets(role, k); err != nil {
		return nil, err
	}
	return out, r.commit()
}

// findTarget looks for a target path in every role.
func (r *Repo) findTarget(tp string) *metadata.TargetFiles {
	for _, t := range r.targets {
		if tf := t.Signed.Targets[tp]; tf != nil {
			return tf
		}
	}
	return nil
}

// signerFor picks the role that signs plugin name: the delegated role
// whose paths match it when keyFile is its key, the top-level targets
// (its key in keys/) when keyFile is empty and no delegation matches.
func (r *Repo) signerFor(name, keyFile string) (string, *key, error) {
	probe := targetPath(name, "0.0.0", "os", "arch")
	var delegated *metadata.DelegatedRole
	if d := r.targets[metadata.TARGETS].Signed.Delegations; d != nil {
		for i := range d.Roles {
			if ok, _ := d.Roles[i].IsDelegatedPath(probe); ok {
				delegated = &d.Roles[i]
				break
			}
		}
	}
	if keyFile == "" {
		if delegated != nil {
			return "", nil, fmt.Errorf("%s is delegated to role %s (%s): publish it with that role's key, --key FILE", name, delegated.Name, strings.Join(delegated.Paths, ", "))
		}
		return metadata.TARGETS, nil, nil
	}
	k, err := readKey(keyFile)
	if err != nil {
		return "", nil, fmt.Errorf("--key: %w", err)
	}
	if k.priv == nil {
		return "", nil, fmt.Errorf("--key %s holds only a public key; sign with the private key file", keyFile)
	}
	if delegated == nil || !slices.Contains(delegated.KeyIDs, k.id) {
		return "", nil, fmt.Errorf("key %s (%s) is not delegated for %s; the marketplace delegates a name pattern to a key with `mikrobill marketplace delegate %s --name PATTERN --key PUBLIC-KEY`", k.id[:16], keyFile, name, r.dir)
	}
	if r.targets[delegated.Name] == nil {
		r.targets[delegated.Name] = metadata.Targets(r.now().UTC().Add(r.expiry.Targets))
		r.targets[delegated.Name].Signed.Version = 0 // bumpTargets makes it 1
	}
	return delegated.Name, k, nil
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// Summarize is the one-line summary of a manifest a marketplace shows:
// kind, what it depends on, its routes, events and settings.
func Summarize(m *manifest.Manifest) string {
	parts := []string{m.Kind + " plugin"}
	var deps []string
	for _, d := range m.Dependencies {
		s := d.Name
		if d.Version != "" {
			s += " " + d.Version
		}
		deps = append(deps, s)
	}
	if len(deps) > 0 {
		parts = append(parts, "needs "+strings.Join(deps, ", "))
	}
	if n := len(m.Routes); n > 0 {
		parts = append(parts, fmt.Sprintf("%d routes", n))
	}
	if len(m.Events) > 0 {
		parts = append(parts, "events "+strings.Join(m.Events, ", "))
	}
	if len(m.ConfigSchema) > 0 {
		var schema struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if json.Unmarshal(m.ConfigSchema, &schema) == nil && len(schema.Properties) > 0 {
			keys := make([]string, 0, len(schema.Properties))
			for k := range schema.Properties {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			parts = append(parts, "settings "+strings.Join(keys, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// Archive writes the folder dir as a gzipped tar, paths relative to dir,
// in lexical order, with fixed times and owners (the same folder makes the
// same bytes), leaving out the files in skip (slash paths). Regular files
// keep their execute bit (0755, others 0644); symbolic links and other
// special files are refused.
func Archive(dir string, skip map[string]bool) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if skip[rel] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: rel, Format: tar.FormatPAX}
		switch {
		case info.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
			return tw.WriteHeader(hdr)
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, info.Size(), 0o644
			if info.Mode()&0o111 != 0 {
				hdr.Mode = 0o755
			}
		default:
			return fmt.Errorf("%s is a %s; a plugin folder holds regular files and folders only", p, info.Mode().Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.CopyN(tw, f, info.Size()); err != nil {
			return fmt.Errorf("%s changed while being archived: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DetectPlatform reads the GOOS and GOARCH an executable was built for from
// its ELF, Mach-O or PE header.
func DetectPlatform(file string) (goos, goarch string, err error) {
	if f, err := elf.Open(file); err == nil {
		defer f.Close()
		goos = "linux"
		if f.OSABI == elf.ELFOSABI_FREEBSD {
			goos = "freebsd"
		}
		arch := map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_386: "386", elf.EM_ARM: "arm",
			elf.EM_RISCV: "riscv64", elf.EM_S390: "s390x", elf.EM_LOONGARCH: "loong64"}[f.Machine]
		if f.Machine == elf.EM_PPC64 {
			arch = "ppc64"
			if f.ByteOrder.String() == "LittleEndian" {
				arch = "ppc64le"
			}
		}
		if arch == "" {
			return "", "", fmt.Errorf("%s: ELF machine %s is not a platform mikrobill knows", file, f.Machine)
		}
		return goos, arch, nil
	}
	if f, err := macho.Open(file); err == nil {
		defer f.Close()
		arch := map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
		if arch == "" {
			return "", "", fmt.Errorf("%s: Mach-O CPU %s is not a platform mikrobill knows", file, f.Cpu)
		}
		return "darwin", arch, nil
	}
	if f, err := pe.Open(file); err == nil {
		defer f.Close()
		arch := map[uint16]string{pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64", pe.IMAGE_FILE_MACHINE_I386: "386"}[f.Machine]
		if arch == "" {
			return "", "", fmt.Errorf("%s: PE machine %#x is not a platform mikrobill knows", file, f.Machine)
		}
		return "windows", arch, nil
	}
	if _, err := os.Stat(file); err != nil {
		return "", "", fmt.Errorf("the executable %s is missing: build the plugin first", file)
	}
	return "", "", fmt.Errorf("cannot tell which platform %s was built for (not an ELF, Mach-O or PE executable)", file)
}
