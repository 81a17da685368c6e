package marketplace

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// TrustDir is the folder of the trusted marketplaces in a data directory:
// one folder per marketplace (0700), holding its trusted root, its TUF
// metadata cache and its partial downloads.
func TrustDir(dataDir string) string { return filepath.Join(dataDir, "marketplaces") }

// Files of a marketplace added with Add, in its folder.
const (
	trustRecordFile = "marketplace.json"
	trustRootFile   = "root.json"
)

// Trusted is a marketplace this host trusts.
type Trusted struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Root is the file of the root metadata it is trusted by.
	Root string `json:"root"`
	// Config says it is declared in the configuration file (a marketplace
	// block) rather than added with `mikrobill marketplace add`.
	Config bool `json:"config"`
	// Added is when it was added (zero for the configuration's).
	Added time.Time `json:"added,omitzero"`
	// Dir is its folder in the data directory.
	Dir string `json:"dir"`
}

// trustRecord is trustRecordFile's content.
type trustRecord struct {
	Name  string    `json:"name"`
	URL   string    `json:"url"`
	Added time.Time `json:"added"`
}

// CheckURL checks a marketplace's address: http(s)://host/... or
// file:///absolute/path.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%q names no host", raw)
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" || !filepath.IsAbs(u.Path) {
			return fmt.Errorf("%q: a folder on disk is file:///absolute/path (three slashes)", raw)
		}
	default:
		return fmt.Errorf("%q: a marketplace URL starts with https://, http:// or file://", raw)
	}
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkName checks a marketplace's name.
func checkName(name string) error {
	if !rolePattern.MatchString(name) {
		return fmt.Errorf("marketplace name %q: use lowercase letters, digits and '-', starting with a letter (at most 63)", name)
	}
	return nil
}

// Add trusts the marketplace name at rawURL by root (root metadata, signed
// by its own root keys) in dataDir, unless cfg declares it already.
func Add(cfg *config.Config, name, rawURL string, root []byte) (*Trusted, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	if _, err := parseRoot(root); err != nil {
		return nil, err
	}
	if _, ok := cfg.Marketplaces[name]; ok {
		return nil, fmt.Errorf("marketplace %q is declared in %s already", name, orNoFile(cfg.File))
	}
	dir := filepath.Join(TrustDir(cfg.DataDir), name)
	if fileExists(filepath.Join(dir, trustRecordFile)) {
		return nil, fmt.Errorf("marketplace %q is trusted already; `mikrobill marketplace remove %s` first to trust it anew", name, name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, trustRootFile), root, 0o600); err != nil {
		return nil, err
	}
	rec := trustRecord{Name: name, URL: rawURL, Added: time.Now().UTC().Truncate(time.Second)}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, trustRecordFile), append(data, '\n'), 0o600); err != nil {
		return nil, err
	}
	return &Trusted{Name: name, URL: rawURL, Root: filepath.Join(dir, trustRootFile), Added: rec.Added, Dir: dir}, nil
}

func orNoFile(f string) string {
	if f == "" {
		return "the configuration"
	}
	return f
}

// Remove stops trusting a marketplace added with Add, and deletes its
// folder (cache and partial downloads). Plugins installed from it stay.
func Remove(cfg *config.Config, name string) error {
	if _, ok := cfg.Marketplaces[name]; ok {
		return fmt.Errorf("marketplace %q is declared in %s: remove its block there", name, orNoFile(cfg.File))
	}
	dir := filepath.Join(TrustDir(cfg.DataDir), name)
	if checkName(name) != nil || !fileExists(filepath.Join(dir, trustRecordFile)) {
		return fmt.Errorf("%w: %q (`mikrobill marketplace list` shows the trusted ones)", ErrNotTrusted, name)
	}
	return os.RemoveAll(dir)
}

// List is every trusted marketplace, by name: the configuration's and
// those added.
func List(cfg *config.Config) ([]Trusted, error) {
	var out []Trusted
	for name, m := range cfg.Marketplaces {
		out = append(out, Trusted{Name: name, URL: m.URL, Root: m.Root, Config: true, Dir: filepath.Join(TrustDir(cfg.DataDir), name)})
	}
	entries, err := os.ReadDir(TrustDir(cfg.DataDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		dir := filepath.Join(TrustDir(cfg.DataDir), e.Name())
		data, err := os.ReadFile(filepath.Join(dir, trustRecordFile))
		if errors.Is(err, os.ErrNotExist) {
			continue // the cache of a configured marketplace
		}
		if err != nil {
			return nil, err
		}
		var rec trustRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, trustRecordFile), err)
		}
		if _, ok := cfg.Marketplaces[rec.Name]; ok {
			return nil, fmt.Errorf("marketplace %q is both declared in %s and added in %s: remove one (`mikrobill marketplace remove %s` or the block)", rec.Name, orNoFile(cfg.File), dir, rec.Name)
		}
		out = append(out, Trusted{Name: rec.Name, URL: rec.URL, Root: filepath.Join(dir, trustRootFile), Added: rec.Added, Dir: dir})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Open opens one trusted marketplace as a Client.
func (t Trusted) Open(opt Options) (*Client, error) {
	root, err := os.ReadFile(t.Root)
	if err != nil {
		return nil, fmt.Errorf("marketplace %s: its root metadata: %w", t.Name, err)
	}
	return NewClient(t.Name, t.URL, root, t.Dir, opt)
}

// Clients opens every marketplace the host trusts (List) as a Client. A
// marketplace that cannot be opened (its root file missing or unsound)
// does not keep the others from being returned: they come back with an
// error naming each that failed.
func Clients(cfg *config.Config, opt Options) ([]*Client, error) {
	list, err := List(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]*Client, 0, len(list))
	var errs []error
	for _, t := range list {
		c, err := t.Open(opt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// Sources opens every marketplace the host trusts as a
// pluginstall.Source: what the installer takes plugins from. As Clients,
// it returns the ones that open even when others fail. Call it for each
// operation: it reads a few small files, and sees marketplaces added or
// removed since.
func Sources(cfg *config.Config, opt Options) ([]pluginstall.Source, error) {
	cs, err := Clients(cfg, opt)
	out := make([]pluginstall.Source, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out, err
}
