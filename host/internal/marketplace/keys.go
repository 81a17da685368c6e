package marketplace

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// KeyFile is an ed25519 key as marketplace keeps it on disk (0600): the
// role it signs for, the public key and, for a private key file, the
// private key (hex of the 64-byte ed25519 private key).
type KeyFile struct {
	Role    string `json:"role,omitempty"`
	KeyType string `json:"keytype"`
	Public  string `json:"public"`
	Private string `json:"private,omitempty"`
}

// key is a loaded key: its public half, its TUF key and id, and the
// private half when known.
type key struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	tuf  *metadata.Key
	id   string
}

// generateKey makes a new ed25519 key.
func generateKey() (*key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return keyFromPrivate(priv)
}

func keyFromPrivate(priv ed25519.PrivateKey) (*key, error) {
	k, err := keyFromPublic(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	k.priv = priv
	return k, nil
}

func keyFromPublic(pub ed25519.PublicKey) (*key, error) {
	tk, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return nil, err
	}
	id, err := tk.ID()
	if err != nil {
		return nil, err
	}
	return &key{pub: pub, tuf: tk, id: id}, nil
}

// signer is the key as a TUF signer; the key must be private.
func (k *key) signer() (signature.Signer, error) {
	if k.priv == nil {
		return nil, fmt.Errorf("key %s: only its public half is here; sign with the private key file (--key)", k.id)
	}
	return signature.LoadSigner(k.priv, crypto.Hash(0))
}

// writeKey writes the key (private when known) to path, 0600.
func writeKey(path, role string, k *key) error {
	kf := KeyFile{Role: role, KeyType: metadata.KeyTypeEd25519, Public: hex.EncodeToString(k.pub)}
	if k.priv != nil {
		kf.Private = hex.EncodeToString(k.priv)
	}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'), 0o600)
}

// readKey reads a key file written by writeKey.
func readKey(path string) (*key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kf KeyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if kf.KeyType != metadata.KeyTypeEd25519 {
		return nil, fmt.Errorf("key file %s: keytype %q; only ed25519 keys are supported", path, kf.KeyType)
	}
	if kf.Private != "" {
		priv, err := hex.DecodeString(kf.Private)
		if err != nil || len(priv) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("key file %s: private is not a hex ed25519 private key", path)
		}
		return keyFromPrivate(ed25519.PrivateKey(priv))
	}
	return parsePublicKey(kf.Public)
}

// parsePublicKey reads an ed25519 public key given as 64 hex characters.
func parsePublicKey(s string) (*key, error) {
	pub, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%q is not an ed25519 public key: give its 64 hex characters (as `mikrobill marketplace keygen` prints them) or a key file", s)
	}
	return keyFromPublic(ed25519.PublicKey(pub))
}

// KeyGen makes a new ed25519 key in path (0600; refuses to overwrite) and
// returns its id and public key in hex: what a publisher hands the
// marketplace to be delegated a name (`marketplace delegate --key`).
func KeyGen(path string) (id, public string, err error) {
	if _, err := os.Stat(path); err == nil {
		return "", "", fmt.Errorf("%s exists; choose another file, a key is never overwritten", path)
	}
	k, err := generateKey()
	if err != nil {
		return "", "", err
	}
	if err := writeKey(path, "", k); err != nil {
		return "", "", err
	}
	return k.id, hex.EncodeToString(k.pub), nil
}

// Fingerprint is one key of a root metadata: the role it signs for, its
// key id and its public key. Compare them with what the publisher
// announced before trusting a marketplace.
type Fingerprint struct {
	Role    string `json:"role"`
	KeyID   string `json:"keyid"`
	KeyType string `json:"keytype"`
	Public  string `json:"public"` // hex for ed25519
}

// Fingerprints checks that root is a root metadata signed by its own root
// keys (the threshold of them) and lists the keys of every top-level role.
func Fingerprints(root []byte) ([]Fingerprint, int64, error) {
	r, err := parseRoot(root)
	if err != nil {
		return nil, 0, err
	}
	var out []Fingerprint
	for role, rr := range r.Signed.Roles {
		for _, id := range rr.KeyIDs {
			k := r.Signed.Keys[id]
			if k == nil {
				continue
			}
			out = append(out, Fingerprint{Role: role, KeyID: id, KeyType: k.Type, Public: k.Value.PublicKey})
		}
	}
	order := map[string]int{metadata.ROOT: 0, metadata.TARGETS: 1, metadata.SNAPSHOT: 2, metadata.TIMESTAMP: 3}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return order[out[i].Role] < order[out[j].Role]
		}
		return out[i].KeyID < out[j].KeyID
	})
	return out, r.Signed.Version, nil
}

// parseRoot reads root metadata and checks its self-signature.
func parseRoot(data []byte) (*metadata.Metadata[metadata.RootType], error) {
	r, err := metadata.Root().FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("not TUF root metadata (root.json as `mikrobill marketplace init` writes it): %w", err)
	}
	if err := r.VerifyDelegate(metadata.ROOT, r); err != nil {
		return nil, fmt.Errorf("root metadata is not signed by its own root keys: %w", err)
	}
	return r, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, mode)); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
