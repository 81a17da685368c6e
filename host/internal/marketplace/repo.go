package marketplace

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"golang.org/x/sys/unix"
)

// Folders and files of a repository folder (Init).
const (
	// KeysDir holds the private keys, one file per role (0600).
	KeysDir = "keys"
	// RepositoryDir is what is served: the metadata files and targets/.
	RepositoryDir = "repository"
	// RootFile is the newest root metadata, the file to hand to those who
	// will trust the marketplace (`mikrobill marketplace add --root`).
	RootFile = "root.json"
	// SettingsFile holds the publisher's name and the expiry periods.
	SettingsFile = "marketplace.json"
	lockFile     = ".lock"
	targetsDir   = "targets"
	retiredDir   = "retired"
	keySuffix    = ".key"
)

// Expiry is how long each role's metadata is valid once signed.
type Expiry struct {
	Root      time.Duration
	Targets   time.Duration // the top-level targets and delegated roles
	Snapshot  time.Duration
	Timestamp time.Duration
}

// DefaultExpiry: timestamp 1 day, snapshot 7 days, targets and root 1
// year. A live marketplace re-signs timestamp and snapshot daily
// (Repo.Refresh, `mikrobill marketplace refresh`).
var DefaultExpiry = Expiry{Root: 365 * 24 * time.Hour, Targets: 365 * 24 * time.Hour, Snapshot: 7 * 24 * time.Hour, Timestamp: 24 * time.Hour}

// renewWithin: Refresh re-signs a role that expires sooner than this.
const renewWithin = 30 * 24 * time.Hour

// settingsFile is SettingsFile's content.
type settingsFile struct {
	Publisher string            `json:"publisher"`
	Expiry    map[string]string `json:"expiry"`
}

// Repo is a marketplace's repository folder, opened for publishing.
type Repo struct {
	dir       string
	lock      *os.File
	publisher string
	expiry    Expiry
	now       func() time.Time

	root      *metadata.Metadata[metadata.RootType]
	targets   map[string]*metadata.Metadata[metadata.TargetsType] // "targets" and the delegated roles
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
}

// InitOptions are Init's choices.
type InitOptions struct {
	// Publisher names who publishes the top-level targets; default: the
	// folder's name.
	Publisher string
	// Expiry; zero fields take DefaultExpiry's.
	Expiry Expiry
}

var (
	rolePattern      = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	namePatternGlob  = regexp.MustCompile(`^[a-z*?][a-z0-9*?-]{0,62}$`)
	pluginNameRegexp = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
)

// Init makes a new repository in dir (which must not hold one): a key for
// each top-level role in dir/keys, the first metadata of root, targets,
// snapshot and timestamp in dir/repository, and dir/root.json.
func Init(dir string, opt InitOptions) (*Repo, error) {
	for _, sub := range []string{KeysDir, RepositoryDir, RootFile} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err == nil {
			return nil, fmt.Errorf("%s already holds a marketplace (%s exists); open it instead, or choose an empty folder", dir, sub)
		}
	}
	if opt.Publisher == "" {
		abs, _ := filepath.Abs(dir)
		opt.Publisher = filepath.Base(abs)
	}
	e := opt.Expiry
	d := DefaultExpiry
	for _, p := range []struct{ v, def *time.Duration }{{&e.Root, &d.Root}, {&e.Targets, &d.Targets}, {&e.Snapshot, &d.Snapshot}, {&e.Timestamp, &d.Timestamp}} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, KeysDir), 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, RepositoryDir, targetsDir), 0o755); err != nil {
		return nil, err
	}
	r := &Repo{dir: dir, publisher: opt.Publisher, expiry: e, now: time.Now, targets: map[string]*metadata.Metadata[metadata.TargetsType]{}}
	if err := r.takeLock(); err != nil {
		return nil, err
	}
	if err := r.writeSettings(); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.initMetadata(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// initMetadata signs the first root, targets, snapshot and timestamp.
func (r *Repo) initMetadata() error {
	now, e := r.now().UTC(), r.expiry
	r.root = metadata.Root(now.Add(e.Root))
	r.root.Signed.ConsistentSnapshot = true
	r.targets[metadata.TARGETS] = metadata.Targets(now.Add(e.Targets))
	r.snapshot = metadata.Snapshot(now.Add(e.Snapshot))
	r.timestamp = metadata.Timestamp(now.Add(e.Timestamp))
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		k, err := generateKey()
		if err != nil {
			return err
		}
		if err := writeKey(r.keyPath(role), role, k); err != nil {
			return err
		}
		if err := r.root.Signed.AddKey(k.tuf, role); err != nil {
			return err
		}
	}
	if err := r.writeRoot(); err != nil {
		return err
	}
	if err := r.writeTargets(metadata.TARGETS, nil); err != nil {
		return err
	}
	return r.commit()
}

// takeLock locks the folder against other processes that would publish
// into it at the same time; Close unlocks.
func (r *Repo) takeLock() error {
	f, err := os.OpenFile(filepath.Join(r.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("%s is in use by another mikrobill marketplace command; try again when it is done", r.dir)
	}
	r.lock = f
	return nil
}

// Close releases the folder for other commands.
func (r *Repo) Close() error {
	if r.lock == nil {
		return nil
	}
	unix.Flock(int(r.lock.Fd()), unix.LOCK_UN)
	err := r.lock.Close()
	r.lock = nil
	return err
}

// Open opens the repository in dir, locked against other processes until
// Close.
func Open(dir string) (*Repo, error) {
	if _, err := os.Stat(filepath.Join(dir, SettingsFile)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a marketplace folder (no %s); make one with `mikrobill marketplace init %s`", dir, SettingsFile, dir)
	}
	r := &Repo{dir: dir, now: time.Now, expiry: DefaultExpiry, targets: map[string]*metadata.Metadata[metadata.TargetsType]{}}
	if err := r.takeLock(); err != nil {
		return nil, err
	}
	if err := r.load(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// load reads the settings and the newest metadata of every role.
func (r *Repo) load() error {
	dir := r.dir
	data, err := os.ReadFile(filepath.Join(dir, SettingsFile))
	if err != nil {
		return err
	}
	var s settingsFile
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, SettingsFile), err)
	}
	r.publisher = s.Publisher
	for role, v := range s.Expiry {
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			return fmt.Errorf("%s: expiry of %s %q is not a positive duration such as \"24h\"", filepath.Join(dir, SettingsFile), role, v)
		}
		switch role {
		case metadata.ROOT:
			r.expiry.Root = dur
		case metadata.TARGETS:
			r.expiry.Targets = dur
		case metadata.SNAPSHOT:
			r.expiry.Snapshot = dur
		case metadata.TIMESTAMP:
			r.expiry.Timestamp = dur
		default:
			return fmt.Errorf("%s: unknown expiry role %q (root, targets, snapshot, timestamp)", filepath.Join(dir, SettingsFile), role)
		}
	}
	repo := filepath.Join(dir, RepositoryDir)
	if r.root, err = metadata.Root().FromFile(filepath.Join(repo, strconv.FormatInt(r.latestRootVersion(), 10)+".root.json")); err != nil {
		return fmt.Errorf("read root metadata: %w", err)
	}
	if r.timestamp, err = metadata.Timestamp().FromFile(filepath.Join(repo, "timestamp.json")); err != nil {
		return fmt.Errorf("read timestamp metadata: %w", err)
	}
	sm := r.timestamp.Signed.Meta["snapshot.json"]
	if sm == nil {
		return fmt.Errorf("timestamp.json names no snapshot")
	}
	if r.snapshot, err = metadata.Snapshot().FromFile(filepath.Join(repo, fmt.Sprintf("%d.snapshot.json", sm.Version))); err != nil {
		return fmt.Errorf("read snapshot metadata: %w", err)
	}
	for file, m := range r.snapshot.Signed.Meta {
		role := strings.TrimSuffix(file, ".json")
		t, err := metadata.Targets().FromFile(filepath.Join(repo, fmt.Sprintf("%d.%s", m.Version, file)))
		if err != nil {
			return fmt.Errorf("read %s metadata: %w", role, err)
		}
		r.targets[role] = t
	}
	if r.targets[metadata.TARGETS] == nil {
		return fmt.Errorf("snapshot names no targets metadata")
	}
	return nil
}

// latestRootVersion is the highest N of the N.root.json files.
func (r *Repo) latestRootVersion() int64 {
	entries, _ := os.ReadDir(filepath.Join(r.dir, RepositoryDir))
	var best int64 = 1
	for _, e := range entries {
		if v, ok := strings.CutSuffix(e.Name(), ".root.json"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > best {
				best = n
			}
		}
	}
	return best
}

// Dir is the repository folder.
func (r *Repo) Dir() string { return r.dir }

// SetClock replaces the clock that expiry dates are counted from (tests).
func (r *Repo) SetClock(now func() time.Time) { r.now = now }

// RootJSON is the newest root metadata.
func (r *Repo) RootJSON() ([]byte, error) { return os.ReadFile(filepath.Join(r.dir, RootFile)) }

// RootPath is the file of the newest root metadata.
func (r *Repo) RootPath() string { return filepath.Join(r.dir, RootFile) }

// RepositoryPath is the folder to serve.
func (r *Repo) RepositoryPath() string { return filepath.Join(r.dir, RepositoryDir) }

func (r *Repo) writeSettings() error {
	s := settingsFile{Publisher: r.publisher, Expiry: map[string]string{
		metadata.ROOT: r.expiry.Root.String(), metadata.TARGETS: r.expiry.Targets.String(),
		metadata.SNAPSHOT: r.expiry.Snapshot.String(), metadata.TIMESTAMP: r.expiry.Timestamp.String(),
	}}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(r.dir, SettingsFile), append(data, '\n'), 0o644)
}

func (r *Repo) keyPath(role string) string { return filepath.Join(r.dir, KeysDir, role+keySuffix) }

// roleKey loads the private key kept for role in keys/.
func (r *Repo) roleKey(role string) (*key, error) {
	k, err := readKey(r.keyPath(role))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no key for role %s in %s; sign with the key file of that role (--key)", role, filepath.Join(r.dir, KeysDir))
	}
	return k, err
}

// repoPath is a file of the served folder.
func (r *Repo) repoPath(name string) string { return filepath.Join(r.dir, RepositoryDir, name) }

// writeRoot signs root with the root keys kept in keys/ and extra (the
// new key of a rotation), and writes N.root.json and root.json.
func (r *Repo) writeRoot(extra ...*key) error {
	k, err := r.roleKey(metadata.ROOT)
	if err != nil {
		return err
	}
	r.root.ClearSignatures()
	signed := map[string]bool{}
	for _, k := range append([]*key{k}, extra...) {
		if signed[k.id] {
			continue
		}
		signed[k.id] = true
		s, err := k.signer()
		if err != nil {
			return err
		}
		if _, err := r.root.Sign(s); err != nil {
			return fmt.Errorf("sign root: %w", err)
		}
	}
	data, err := r.root.ToBytes(true)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(r.repoPath(fmt.Sprintf("%d.root.json", r.root.Signed.Version)), data, 0o644); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(r.dir, RootFile), data, 0o644)
}

// writeTargets signs role's targets metadata with k (its key in keys/
// when nil) and writes N.role.json; the caller has bumped the version.
func (r *Repo) writeTargets(role string, k *key) error {
	if k == nil {
		var err error
		if k, err = r.roleKey(role); err != nil {
			return err
		}
	}
	t := r.targets[role]
	t.ClearSignatures()
	s, err := k.signer()
	if err != nil {
		return err
	}
	if _, err := t.Sign(s); err != nil {
		return fmt.Errorf("sign %s: %w", role, err)
	}
	data, err := t.ToBytes(true)
	if err != nil {
		return err
	}
	return writeFileAtomic(r.repoPath(fmt.Sprintf("%d.%s.json", t.Signed.Version, role)), data, 0o644)
}

// bumpTargets gives role's targets metadata a new version and expiry and
// signs it (with k, or its key in keys/).
func (r *Repo) bumpTargets(role string, k *key) error {
	t := r.targets[role]
	t.Signed.Version++
	t.Signed.Expires = r.now().UTC().Add(r.expiry.Targets)
	return r.writeTargets(role, k)
}

// commit writes a new snapshot naming every targets metadata, then a new
// timestamp naming the snapshot, timestamp last: a client reading in the
// middle sees the previous, complete set.
func (r *Repo) commit() error {
	now := r.now().UTC()
	snap := r.snapshot
	snap.Signed.Meta = map[string]*metadata.MetaFiles{}
	for role, t := range r.targets {
		snap.Signed.Meta[role+".json"] = metadata.MetaFile(t.Signed.Version)
	}
	if len(snap.Signatures) > 0 {
		snap.Signed.Version++
	}
	snap.Signed.Expires = now.Add(r.expiry.Snapshot)
	k, err := r.roleKey(metadata.SNAPSHOT)
	if err != nil {
		return err
	}
	snap.ClearSignatures()
	s, err := k.signer()
	if err != nil {
		return err
	}
	if _, err := snap.Sign(s); err != nil {
		return fmt.Errorf("sign snapshot: %w", err)
	}
	sdata, err := snap.ToBytes(true)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(r.repoPath(fmt.Sprintf("%d.snapshot.json", snap.Signed.Version)), sdata, 0o644); err != nil {
		return err
	}
	ts := r.timestamp
	sum := sha256.Sum256(sdata)
	mf := metadata.MetaFile(snap.Signed.Version)
	mf.Length = int64(len(sdata))
	mf.Hashes = metadata.Hashes{"sha256": sum[:]}
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": mf}
	if len(ts.Signatures) > 0 {
		ts.Signed.Version++
	}
	ts.Signed.Expires = now.Add(r.expiry.Timestamp)
	if k, err = r.roleKey(metadata.TIMESTAMP); err != nil {
		return err
	}
	ts.ClearSignatures()
	if s, err = k.signer(); err != nil {
		return err
	}
	if _, err := ts.Sign(s); err != nil {
		return fmt.Errorf("sign timestamp: %w", err)
	}
	tdata, err := ts.ToBytes(true)
	if err != nil {
		return err
	}
	return writeFileAtomic(r.repoPath("timestamp.json"), tdata, 0o644)
}

// Refresh re-signs snapshot and timestamp with new versions and expiry
// dates, and before them every role whose metadata expires within 30 days
// and whose key is in keys/. It returns the roles re-signed.
func (r *Repo) Refresh() ([]string, error) {
	now := r.now()
	var renewed []string
	if r.root.Signed.Expires.Before(now.Add(renewWithin)) {
		r.root.Signed.Version++
		r.root.Signed.Expires = now.UTC().Add(r.expiry.Root)
		if err := r.writeRoot(); err != nil {
			return nil, err
		}
		renewed = append(renewed, metadata.ROOT)
	}
	for _, role := range r.roleNames() {
		if !r.targets[role].Signed.Expires.Before(now.Add(renewWithin)) {
			continue
		}
		if _, err := os.Stat(r.keyPath(role)); err != nil {
			continue // a publisher's own key: theirs to renew, by publishing
		}
		if err := r.bumpTargets(role, nil); err != nil {
			return nil, err
		}
		renewed = append(renewed, role)
	}
	if err := r.commit(); err != nil {
		return nil, err
	}
	return append(renewed, metadata.SNAPSHOT, metadata.TIMESTAMP), nil
}

// roleNames are the targets roles, "targets" first.
func (r *Repo) roleNames() []string {
	names := make([]string, 0, len(r.targets))
	for n := range r.targets {
		if n != metadata.TARGETS {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return append([]string{metadata.TARGETS}, names...)
}

// Expires reports when each role's metadata expires.
func (r *Repo) Expires() map[string]time.Time {
	out := map[string]time.Time{
		metadata.ROOT: r.root.Signed.Expires, metadata.SNAPSHOT: r.snapshot.Signed.Expires, metadata.TIMESTAMP: r.timestamp.Signed.Expires,
	}
	for role, t := range r.targets {
		out[role] = t.Signed.Expires
	}
	return out
}

// Fingerprints lists the keys of the top-level roles of the newest root.
func (r *Repo) Fingerprints() ([]Fingerprint, error) {
	data, err := r.RootJSON()
	if err != nil {
		return nil, err
	}
	fp, _, err := Fingerprints(data)
	return fp, err
}

// Delegation is a delegated targets role.
type Delegation struct {
	Role   string   `json:"role"`
	Paths  []string `json:"paths"`
	KeyIDs []string `json:"keyids"`
}

// Delegations lists the roles the top-level targets delegates to.
func (r *Repo) Delegations() []Delegation {
	d := r.targets[metadata.TARGETS].Signed.Delegations
	if d == nil {
		return nil
	}
	var out []Delegation
	for _, role := range d.Roles {
		out = append(out, Delegation{Role: role.Name, Paths: role.Paths, KeyIDs: role.KeyIDs})
	}
	return out
}

// resolveKey reads a key given as "new" (a new key, kept in keys/ for
// role), 64 hex characters of an ed25519 public key, or a key file.
func (r *Repo) resolveKey(role, spec string) (k *key, generated bool, err error) {
	switch {
	case spec == "new":
		if k, err = generateKey(); err != nil {
			return nil, false, err
		}
		return k, true, nil
	case len(strings.TrimSpace(spec)) == 64 && isHex(strings.TrimSpace(spec)):
		k, err = parsePublicKey(spec)
		return k, false, err
	default:
		k, err = readKey(spec)
		if err != nil {
			return nil, false, fmt.Errorf("--key %q: give \"new\", an ed25519 public key in hex, or a key file: %w", spec, err)
		}
		return k, false, nil
	}
}

func isHex(s string) bool {
	return strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// Delegate hands the plugin names matching pattern (a name with * and ?
// wildcards: "payment-*") to a new delegated role signed by keySpec ("new",
// a public key in hex, or a key file). A generated key is kept in
// keys/ROLE.key; a public key means the role's publisher keeps the private
// key and signs with it (`marketplace publish --key`). Delegations are
// terminating: names matching pattern are looked up in that role only.
func (r *Repo) Delegate(pattern, role, keySpec string) (string, bool, error) {
	if !namePatternGlob.MatchString(pattern) {
		return "", false, fmt.Errorf("--name %q: a plugin name pattern uses lowercase letters, digits, '-' and the wildcards * and ?, such as \"payment-*\"", pattern)
	}
	if role == "" {
		role = strings.Trim(strings.NewReplacer("*", "", "?", "").Replace(pattern), "-")
	}
	if !rolePattern.MatchString(role) || slices.Contains(metadata.TOP_LEVEL_ROLE_NAMES[:], role) {
		return "", false, fmt.Errorf("role %q: a role name uses lowercase letters, digits and '-', starts with a letter, and is not root, targets, snapshot or timestamp (--role)", role)
	}
	if _, ok := r.targets[role]; ok || r.hasDelegation(role) {
		return "", false, fmt.Errorf("role %q is delegated already; rotate its key with `mikrobill marketplace rotate-key %s %s`", role, r.dir, role)
	}
	k, generated, err := r.resolveKey(role, keySpec)
	if err != nil {
		return "", false, err
	}
	top := r.targets[metadata.TARGETS]
	if top.Signed.Delegations == nil {
		top.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	top.Signed.Delegations.Keys[k.id] = k.tuf
	top.Signed.Delegations.Roles = append(top.Signed.Delegations.Roles, metadata.DelegatedRole{
		Name: role, KeyIDs: []string{k.id}, Threshold: 1, Terminating: true, Paths: []string{pattern + "/*/*"},
	})
	if generated {
		if err := writeKey(r.keyPath(role), role, k); err != nil {
			return "", false, err
		}
	}
	if err := r.bumpTargets(metadata.TARGETS, nil); err != nil {
		return "", false, err
	}
	if k.priv != nil {
		// The role's first, empty metadata; with only a public key, its
		// publisher's first publish writes it.
		r.targets[role] = metadata.Targets(r.now().UTC().Add(r.expiry.Targets))
		if err := r.writeTargets(role, k); err != nil {
			return "", false, err
		}
	}
	return k.id, generated, r.commit()
}

func (r *Repo) hasDelegation(role string) bool {
	d := r.targets[metadata.TARGETS].Signed.Delegations
	return d != nil && slices.ContainsFunc(d.Roles, func(dr metadata.DelegatedRole) bool { return dr.Name == role })
}

// delegatedRole returns the delegation of role.
func (r *Repo) delegatedRole(role string) *metadata.DelegatedRole {
	d := r.targets[metadata.TARGETS].Signed.Delegations
	if d == nil {
		return nil
	}
	for i := range d.Roles {
		if d.Roles[i].Name == role {
			return &d.Roles[i]
		}
	}
	return nil
}

// RotateKey replaces the key of role (root, targets, snapshot, timestamp,
// or a delegated role) with keySpec ("new", a public key in hex, or a key
// file). A new root is signed by the old and the new root key, so clients
// trusting the old root follow; a top-level role's new key is named in a
// new root; a delegated role's in a new targets. The old private key moves
// to keys/retired/. It returns the new key's id.
//
// A delegated role whose publisher keeps its key (a public key given) is
// refused by clients until its publisher publishes with the new key.
func (r *Repo) RotateKey(role, keySpec string) (string, error) {
	top := slices.Contains(metadata.TOP_LEVEL_ROLE_NAMES[:], role)
	if !top && !r.hasDelegation(role) {
		return "", fmt.Errorf("no role %q: the roles are root, targets, snapshot, timestamp and the delegated ones (`mikrobill marketplace delegate`)", role)
	}
	k, _, err := r.resolveKey(role, keySpec)
	if err != nil {
		return "", err
	}
	if top && k.priv == nil {
		return "", fmt.Errorf("the %s key must be kept here to sign: use --key new or a private key file", role)
	}
	var old *key
	if p := r.keyPath(role); fileExists(p) {
		if old, err = readKey(p); err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Join(r.dir, KeysDir, retiredDir), 0o700); err != nil {
			return "", err
		}
		if err := os.Rename(p, filepath.Join(r.dir, KeysDir, retiredDir, role+"-"+old.id[:16]+keySuffix)); err != nil {
			return "", err
		}
	}
	if role == metadata.ROOT && old == nil {
		return "", fmt.Errorf("the old root key is not in %s: a new root must be signed by the old root key too", filepath.Join(r.dir, KeysDir))
	}
	if k.priv != nil {
		if err := writeKey(r.keyPath(role), role, k); err != nil {
			return "", err
		}
	}
	if top {
		for _, id := range slices.Clone(r.root.Signed.Roles[role].KeyIDs) {
			if err := r.root.Signed.RevokeKey(id, role); err != nil {
				return "", err
			}
		}
		if err := r.root.Signed.AddKey(k.tuf, role); err != nil {
			return "", err
		}
		r.root.Signed.Version++
		r.root.Signed.Expires = r.now().UTC().Add(r.expiry.Root)
		var extra []*key
		if role == metadata.ROOT {
			extra = append(extra, old)
		}
		if err := r.writeRoot(extra...); err != nil {
			return "", err
		}
		if role == metadata.TARGETS {
			if err := r.bumpTargets(metadata.TARGETS, nil); err != nil {
				return "", err
			}
		}
		return k.id, r.commit()
	}
	targets := r.targets[metadata.TARGETS].Signed
	for _, id := range slices.Clone(r.delegatedRole(role).KeyIDs) {
		if err := targets.RevokeKey(id, role); err != nil {
			return "", err
		}
	}
	if err := targets.AddKey(k.tuf, role); err != nil {
		return "", err
	}
	if err := r.bumpTargets(metadata.TARGETS, nil); err != nil {
		return "", err
	}
	if _, ok := r.targets[role]; ok && k.priv != nil {
		if err := r.bumpTargets(role, k); err != nil {
			return "", err
		}
	}
	return k.id, r.commit()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// targetPath is the target path of one archive.
func targetPath(name, version, goos, goarch string) string {
	return path.Join(name, version, fmt.Sprintf("%s-%s-%s-%s.tar.gz", name, version, goos, goarch))
}
