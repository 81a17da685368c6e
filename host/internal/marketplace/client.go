package marketplace

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/hashicorp/go-hclog"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	tufconfig "github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
	"golang.org/x/sys/unix"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// Options are a Client's settings; the zero value is good.
type Options struct {
	// HTTPClient downloads metadata and archives; nil means a client of
	// its own. file:// URLs are read from disk whatever it is.
	HTTPClient *http.Client
	// Now is the clock metadata expiry is judged by; nil means time.Now.
	Now func() time.Time
	// Limits bound what an archive may unpack to; zero fields take
	// DefaultLimits'.
	Limits Limits
	// Attempts is how many times a cut download is resumed before Fetch
	// gives up; default 3.
	Attempts int
	// GOOS and GOARCH are the platform to list and fetch for; default
	// this one's.
	GOOS, GOARCH string
	// Logger; nil logs nothing.
	Logger hclog.Logger
}

// Client is one trusted marketplace, as a pluginstall.Source: its
// metadata is refreshed through the TUF updater into its folder
// (marketplaces/NAME in the data directory), which also holds the partial
// downloads. A Client is safe for concurrent use; a lock file serialises
// the processes that share its folder.
type Client struct {
	name, url string
	dir       string
	root      []byte
	opt       Options
	fetch     *httpFetcher
	mu        sync.Mutex
}

var _ pluginstall.Source = (*Client)(nil)

// Files of a client's folder.
const (
	clientMetadataDir  = "metadata"
	clientDownloadsDir = "downloads"
	clientLockFile     = "lock"
	clientRootSum      = "trusted-root.sha256"
)

// NewClient opens the marketplace name at url (http://, https:// or
// file://, the folder the repository's metadata files are in), trusting
// root (root metadata: the first it trusts; the updater follows the
// marketplace's key rotations from there), caching in dir (made 0700).
// When root is not the root the cache in dir started from, the cache is
// dropped: trust starts again from root.
func NewClient(name, url string, root []byte, dir string, opt Options) (*Client, error) {
	if err := CheckURL(url); err != nil {
		return nil, fmt.Errorf("marketplace %s: %w", name, err)
	}
	if _, err := parseRoot(root); err != nil {
		return nil, fmt.Errorf("marketplace %s: %w", name, err)
	}
	if opt.Attempts <= 0 {
		opt.Attempts = 3
	}
	if opt.GOOS == "" {
		opt.GOOS, opt.GOARCH = runtime.GOOS, runtime.GOARCH
	}
	if opt.Logger == nil {
		opt.Logger = hclog.NewNullLogger()
	}
	opt.Limits = opt.Limits.orDefault()
	c := &Client{name: name, url: strings.TrimRight(url, "/"), dir: dir, root: root, opt: opt, fetch: newFetcher(opt.HTTPClient)}
	for _, sub := range []string{"", clientMetadataDir, clientDownloadsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	sum := sha256Hex(root)
	if old, err := os.ReadFile(filepath.Join(dir, clientRootSum)); err != nil || strings.TrimSpace(string(old)) != sum {
		if err := os.RemoveAll(filepath.Join(dir, clientMetadataDir)); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(dir, clientMetadataDir), 0o700); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(dir, clientRootSum), []byte(sum+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Name is the marketplace's name.
func (c *Client) Name() string { return c.name }

// URL is the marketplace's address.
func (c *Client) URL() string { return c.url }

// lock serialises this client's work with every other process's on the
// same folder; the returned func unlocks.
func (c *Client) lock() (func(), error) {
	c.mu.Lock()
	f, err := os.OpenFile(filepath.Join(c.dir, clientLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		c.mu.Unlock()
		return nil, err
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
		c.mu.Unlock()
	}, nil
}

// refresh makes a TUF updater from the newest trusted root in the cache
// (root, the first time) and refreshes root, timestamp, snapshot and
// targets: signatures, versions (no rollback) and expiry (no freeze).
func (c *Client) refresh() (*updater.Updater, error) {
	mdir := filepath.Join(c.dir, clientMetadataDir)
	root := c.root
	if data, err := os.ReadFile(filepath.Join(mdir, "root.json")); err == nil {
		root = data
	}
	cfg, err := tufconfig.New(c.url, root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = mdir
	cfg.LocalTargetsDir = filepath.Join(c.dir, clientDownloadsDir)
	cfg.Fetcher = c.fetch
	up, err := updater.New(cfg)
	if err != nil {
		return nil, c.explain(err)
	}
	if c.opt.Now != nil {
		up.UnsafeSetRefTime(c.opt.Now())
	}
	if err := up.Refresh(); err != nil {
		return nil, c.explain(err)
	}
	return up, nil
}

// explain says what a TUF error means for the operator.
func (c *Client) explain(err error) error {
	what := ""
	switch {
	case errors.Is(err, &metadata.ErrExpiredMetadata{}):
		what = "its metadata has expired: either the publisher has not re-signed it (`mikrobill marketplace refresh`) or someone is serving an old copy (a freeze attack); nothing from it is trusted until it is fresh"
	case errors.Is(err, &metadata.ErrBadVersionNumber{}):
		what = "it serves older metadata than this host has already seen (a rollback attack, or a marketplace restored from an old backup); nothing from it is trusted until it serves newer metadata"
	case errors.Is(err, &metadata.ErrUnsignedMetadata{}):
		what = "its metadata is not signed by the keys this host trusts: it was altered, or the marketplace was re-keyed without a root rotation (then remove it and add it again with its new root.json, after checking the fingerprints)"
	case errors.Is(err, &metadata.ErrRepository{}):
		what = "its metadata is inconsistent"
	default:
		var dl *metadata.ErrDownloadHTTP
		if errors.As(err, &dl) {
			what = "it could not be reached or is not a marketplace at this address"
		}
	}
	if what != "" {
		return fmt.Errorf("marketplace %s (%s): %s: %w", c.name, c.url, what, err)
	}
	return fmt.Errorf("marketplace %s (%s): %w", c.name, c.url, err)
}

// entry is a verified target: its listing and its signed file info.
type entry struct {
	listing pluginstall.Listing
	target  *metadata.TargetFiles
}

// Problem is a target or role a marketplace serves that was refused.
type Problem struct {
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// entries lists every target the refreshed updater trusts, in the
// top-level targets and in every delegated role, each resolved through
// TUF's delegation walk (so a target a role lists outside the names
// delegated to it is refused), its custom metadata checked against its
// path. Refused targets come back as problems.
func (c *Client) entries(up *updater.Updater) ([]entry, []Problem) {
	var problems []Problem
	cands := map[string]bool{}
	for p := range up.GetTopLevelTargets() {
		cands[p] = true
	}
	set := up.GetTrustedMetadataSet()
	queue := []*metadata.Delegations{set.Targets[metadata.TARGETS].Signed.Delegations}
	seen := map[string]bool{}
	for len(queue) > 0 && len(seen) < 32 {
		d := queue[0]
		queue = queue[1:]
		if d == nil {
			continue
		}
		for i := range d.Roles {
			role := &d.Roles[i]
			if seen[role.Name] {
				continue
			}
			seen[role.Name] = true
			for _, pat := range role.Paths {
				probe, ok := probePath(role, pat)
				if !ok {
					problems = append(problems, Problem{Target: role.Name, Reason: fmt.Sprintf("path pattern %q cannot be listed; its targets are not shown", pat)})
					continue
				}
				if _, err := up.GetTargetInfo(probe); err != nil && !strings.Contains(err.Error(), "not found") {
					problems = append(problems, Problem{Target: role.Name, Reason: c.explain(err).Error()})
				}
			}
			t := up.GetTrustedMetadataSet().Targets[role.Name]
			if t == nil {
				continue
			}
			for p := range t.Signed.Targets {
				cands[p] = true
			}
			queue = append(queue, t.Signed.Delegations)
		}
	}
	paths := make([]string, 0, len(cands))
	for p := range cands {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []entry
	for _, p := range paths {
		tf, err := up.GetTargetInfo(p)
		if err != nil {
			problems = append(problems, Problem{Target: p, Reason: "not signed by a role trusted for its name: refused"})
			continue
		}
		cu, err := checkTarget(p, tf)
		if err != nil {
			problems = append(problems, Problem{Target: p, Reason: err.Error()})
			continue
		}
		out = append(out, entry{listing: cu.listing(c.name, tf.Length), target: tf})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].listing, out[j].listing
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return newer(a.Version, b.Version)
	})
	return out, problems
}

// probePath is a target path role's path pattern matches, so that the
// delegation walk loads role; ok is false for patterns with character
// classes.
func probePath(role *metadata.DelegatedRole, pattern string) (string, bool) {
	if strings.ContainsAny(pattern, "[]\\") {
		return "", false
	}
	probe := strings.NewReplacer("*", "x", "?", "x").Replace(pattern)
	ok, _ := role.IsDelegatedPath(probe)
	return probe, ok
}

// newer reports whether version a sorts before b: newer first.
func newer(a, b string) bool {
	va, ea := semver.NewVersion(a)
	vb, eb := semver.NewVersion(b)
	if ea != nil || eb != nil {
		return a > b
	}
	return va.GreaterThan(vb)
}

// checkTarget reads a target's custom metadata and checks it against the
// target's path: NAME/VERSION/NAME-VERSION-OS-ARCH.tar.gz.
func checkTarget(p string, tf *metadata.TargetFiles) (Custom, error) {
	var cu Custom
	if tf.Custom == nil {
		return cu, fmt.Errorf("%w: target %s has no custom metadata", ErrVerify, p)
	}
	if err := json.Unmarshal(*tf.Custom, &cu); err != nil {
		return cu, fmt.Errorf("%w: target %s: custom metadata: %v", ErrVerify, p, err)
	}
	parts := strings.Split(p, "/")
	switch {
	case len(parts) != 3:
		return cu, fmt.Errorf("%w: target %s is not NAME/VERSION/ARCHIVE", ErrVerify, p)
	case cu.Name != parts[0]:
		return cu, fmt.Errorf("%w: target %s names plugin %q in its metadata: a plugin's name is its path's", ErrVerify, p, cu.Name)
	case !pluginNameRegexp.MatchString(cu.Name):
		return cu, fmt.Errorf("%w: target %s: %q is not a plugin name", ErrVerify, p, cu.Name)
	case cu.Version != parts[1]:
		return cu, fmt.Errorf("%w: target %s says version %q", ErrVerify, p, cu.Version)
	case parts[2] != path.Base(targetPath(cu.Name, cu.Version, cu.OS, cu.Arch)):
		return cu, fmt.Errorf("%w: target %s says platform %s/%s", ErrVerify, p, cu.OS, cu.Arch)
	}
	if _, err := semver.StrictNewVersion(cu.Version); err != nil {
		return cu, fmt.Errorf("%w: target %s: version %q is not semver", ErrVerify, p, cu.Version)
	}
	return cu, nil
}

// Listings refreshes the metadata and lists every trusted plugin version
// for every platform, newest first per plugin, with the targets refused.
func (c *Client) Listings(ctx context.Context) ([]pluginstall.Listing, []Problem, error) {
	unlock, err := c.lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	up, err := c.refresh()
	if err != nil {
		return nil, nil, err
	}
	es, problems := c.entries(up)
	for _, p := range problems {
		c.opt.Logger.Warn("marketplace target refused", "marketplace", c.name, "target", p.Target, "reason", p.Reason)
	}
	out := make([]pluginstall.Listing, len(es))
	for i, e := range es {
		out[i] = e.listing
	}
	return out, problems, nil
}

// Search is pluginstall.Source's: the versions for this platform whose
// name or description contains text (any case).
func (c *Client) Search(ctx context.Context, text string) ([]pluginstall.Listing, error) {
	all, _, err := c.Listings(ctx)
	if err != nil {
		return nil, err
	}
	text = strings.ToLower(text)
	var out []pluginstall.Listing
	for _, l := range all {
		if l.OS != c.opt.GOOS || l.Arch != c.opt.GOARCH {
			continue
		}
		if text == "" || strings.Contains(strings.ToLower(l.Name), text) || strings.Contains(strings.ToLower(l.Description), text) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Fetch is pluginstall.Source's: refresh, pick name at version (the
// newest for this platform when ""), download it (resuming a cut
// download, never past the signed length), verify its length and hashes
// against the signed target, and only then unpack it into dst (Unpack's
// rules) and check that its plugin.json names the same plugin and
// version. On an error dst is left empty.
func (c *Client) Fetch(ctx context.Context, name, version, dst string, progress pluginstall.Progress) (pluginstall.Listing, error) {
	return c.fetchTarget(ctx, name, version, "", dst, progress)
}

// FetchTarget is Fetch of one exact target: name at version whose signed
// sha256 is sha256 (hex, as Resolve returns it). Several hosts carrying out
// one install use it so that each installs the very target the first one
// verified; a marketplace that now signs other bytes under that version is
// refused.
func (c *Client) FetchTarget(ctx context.Context, name, version, sha256, dst string, progress pluginstall.Progress) (pluginstall.Listing, error) {
	if version == "" || sha256 == "" {
		return pluginstall.Listing{}, errors.New("FetchTarget needs a version and a sha256; Resolve gives both")
	}
	return c.fetchTarget(ctx, name, version, sha256, dst, progress)
}

// Resolve refreshes the metadata and says which target Fetch(name,
// version) would take: its listing and its signed sha256 in hex.
func (c *Client) Resolve(ctx context.Context, name, version string) (pluginstall.Listing, string, error) {
	unlock, err := c.lock()
	if err != nil {
		return pluginstall.Listing{}, "", err
	}
	defer unlock()
	up, err := c.refresh()
	if err != nil {
		return pluginstall.Listing{}, "", err
	}
	es, problems := c.entries(up)
	e, err := c.pick(es, problems, name, version)
	if err != nil {
		return pluginstall.Listing{}, "", err
	}
	return e.listing, hex.EncodeToString(e.target.Hashes["sha256"]), nil
}

func (c *Client) fetchTarget(ctx context.Context, name, version, wantSHA256, dst string, progress pluginstall.Progress) (pluginstall.Listing, error) {
	unlock, err := c.lock()
	if err != nil {
		return pluginstall.Listing{}, err
	}
	defer unlock()
	up, err := c.refresh()
	if err != nil {
		return pluginstall.Listing{}, err
	}
	es, problems := c.entries(up)
	e, err := c.pick(es, problems, name, version)
	if err != nil {
		return pluginstall.Listing{}, err
	}
	sum := hex.EncodeToString(e.target.Hashes["sha256"])
	if len(e.target.Hashes["sha256"]) == 0 {
		return pluginstall.Listing{}, fmt.Errorf("%w: target %s has no sha256", ErrVerify, e.target.Path)
	}
	if wantSHA256 != "" && !strings.EqualFold(sum, wantSHA256) {
		return pluginstall.Listing{}, fmt.Errorf("%w: marketplace %s now signs %s with sha256 %s, not the %s being installed: refused", ErrVerify, c.name, e.target.Path, sum, wantSHA256)
	}
	consistent := up.GetTrustedMetadataSet().Root.Signed.ConsistentSnapshot
	part := filepath.Join(c.dir, clientDownloadsDir, sum+".part")
	if err := c.download(ctx, c.targetURL(e.target, consistent), part, e.target, progress); err != nil {
		return pluginstall.Listing{}, err
	}
	if err := c.unpack(part, dst, e.listing); err != nil {
		clearDir(dst)
		return pluginstall.Listing{}, err
	}
	os.Remove(part)
	return e.listing, nil
}

// pick chooses name at version (newest when "") for this platform.
func (c *Client) pick(es []entry, problems []Problem, name, version string) (entry, error) {
	var named []entry
	for _, e := range es {
		if e.listing.Name == name {
			named = append(named, e)
		}
	}
	if len(named) == 0 {
		for _, p := range problems {
			if strings.HasPrefix(p.Target, name+"/") {
				return entry{}, fmt.Errorf("marketplace %s: %s: %s", c.name, p.Target, p.Reason)
			}
		}
		return entry{}, fmt.Errorf("%w: marketplace %s has no plugin %q (`mikrobill plugin search` lists what it has)", ErrNotFound, c.name, name)
	}
	var want *semver.Version
	if version != "" {
		v, err := semver.NewVersion(version)
		if err != nil {
			return entry{}, fmt.Errorf("version %q is not a semantic version such as 1.2.0", version)
		}
		want = v
	}
	var versions, platforms []string
	for _, e := range named {
		l := e.listing
		if want != nil {
			if v, err := semver.NewVersion(l.Version); err != nil || !v.Equal(want) {
				if !slices.Contains(versions, l.Version) {
					versions = append(versions, l.Version)
				}
				continue
			}
		}
		if l.OS == c.opt.GOOS && l.Arch == c.opt.GOARCH {
			return e, nil // entries are newest first
		}
		platforms = append(platforms, l.OS+"/"+l.Arch)
	}
	if len(platforms) > 0 {
		return entry{}, fmt.Errorf("%w: marketplace %s has %s only for %s, not for this host's %s/%s", ErrNotFound, c.name, name, strings.Join(platforms, ", "), c.opt.GOOS, c.opt.GOARCH)
	}
	return entry{}, fmt.Errorf("%w: marketplace %s has no version %s of %s (it has %s)", ErrNotFound, c.name, version, name, strings.Join(versions, ", "))
}

// targetURL is where a target's archive is: with consistent snapshots,
// its file name is prefixed with its sha256.
func (c *Client) targetURL(tf *metadata.TargetFiles, consistent bool) string {
	p := tf.Path
	if consistent {
		p = path.Join(path.Dir(p), hex.EncodeToString(tf.Hashes["sha256"])+"."+path.Base(p))
	}
	return c.url + "/" + targetsDir + "/" + p
}

// download brings the archive into part and verifies it. A cut download is
// resumed (Options.Attempts times); when the verification of a resumed
// file fails, the partial file is dropped and the archive downloaded once
// more from the start.
func (c *Client) download(ctx context.Context, url, part string, tf *metadata.TargetFiles, progress pluginstall.Progress) error {
	resumed := false
	if info, err := os.Stat(part); err == nil && info.Size() > 0 {
		resumed = true
	}
	d, err := newDigest(tf)
	if err != nil {
		return err
	}
	get := func() error {
		var err error
		for attempt := 1; attempt <= c.opt.Attempts; attempt++ {
			if err = c.fetch.download(ctx, url, part, tf.Length, d, progress); err == nil || !retryable(ctx, err) {
				break
			}
			resumed = true
			c.opt.Logger.Warn("download cut; resuming", "marketplace", c.name, "target", tf.Path, "attempt", attempt, "error", err)
		}
		if err != nil {
			if errors.Is(err, ErrVerify) {
				os.Remove(part)
			}
			return err
		}
		return d.check()
	}
	err = get()
	if err != nil && errors.Is(err, ErrVerify) && resumed {
		c.opt.Logger.Warn("resumed download does not verify; starting over", "marketplace", c.name, "target", tf.Path, "error", err)
		os.Remove(part)
		resumed = false
		err = get()
	}
	if err != nil && errors.Is(err, ErrVerify) {
		os.Remove(part)
		return fmt.Errorf("marketplace %s: %w; nothing was unpacked", c.name, err)
	}
	return err
}

// unpack unpacks the verified archive into dst and checks its manifest.
func (c *Client) unpack(archive, dst string, l pluginstall.Listing) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := Unpack(f, dst, c.opt.Limits); err != nil {
		return fmt.Errorf("marketplace %s: %s %s: %w", c.name, l.Name, l.Version, err)
	}
	data, err := os.ReadFile(filepath.Join(dst, manifest.FileName))
	if err != nil {
		return fmt.Errorf("%w: marketplace %s: %s %s has no %s", ErrVerify, c.name, l.Name, l.Version, manifest.FileName)
	}
	var m struct{ Name, Version string }
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%w: marketplace %s: %s %s: %s: %v", ErrVerify, c.name, l.Name, l.Version, manifest.FileName, err)
	}
	if m.Name != l.Name || m.Version != l.Version {
		return fmt.Errorf("%w: marketplace %s: the archive of %s %s holds plugin %s %s", ErrVerify, c.name, l.Name, l.Version, m.Name, m.Version)
	}
	return nil
}

// clearDir empties dir, keeping dir.
func clearDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
