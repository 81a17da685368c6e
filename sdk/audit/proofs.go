package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc/codes"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// CapabilityProofs is the capability Describe reports for a Sink that also
// implements Prover.
const CapabilityProofs = "audit.proofs"

// Prover is an optional capability ("audit.proofs") of an audit Sink: a
// Merkle tree over the log in the form of RFC 6962 with signed checkpoints,
// and inclusion proofs. The server adapter answers ErrNoProofs
// (codes.Unimplemented) for a sink without it; the client's methods then
// return an error matching ErrNoProofs. It is detected by type assertion,
// like sdk's other optional capabilities.
type Prover interface {
	// GetCheckpoint returns the latest signed checkpoint. With Take set,
	// the sink first takes a new checkpoint over the whole log (unless the
	// latest already covers it).
	GetCheckpoint(ctx context.Context, req *GetCheckpointRequest) (*GetCheckpointResponse, error)
	// ProveInclusion returns the event with EventID, its leaf index, a
	// checkpoint that covers it (the latest, or the one of size TreeSize
	// when set) and the RFC 6962 inclusion proof. An unknown event is
	// ErrUnknownEvent; an event not yet covered by any checkpoint makes the
	// sink take one.
	ProveInclusion(ctx context.Context, req *ProveInclusionRequest) (*ProveInclusionResponse, error)
}

var (
	// ErrUnknownEvent: no event with that id is in the log (live or
	// archived) [sdk.ErrNotFound].
	ErrUnknownEvent = rpcerr.New(codes.NotFound, "AUDIT_UNKNOWN_EVENT", "unknown audit event", sdk.ErrNotFound)
	// ErrNoProofs: this audit sink keeps no Merkle tree or checkpoints (it
	// does not implement Prover); only the hash chain can be verified
	// [sdk.ErrNotSupported].
	ErrNoProofs = rpcerr.New(codes.Unimplemented, "AUDIT_NO_PROOFS", "this audit sink keeps no Merkle tree or checkpoints", sdk.ErrNotSupported)
)

// VerifyReason names the kind of failure Verify found.
type VerifyReason string

// Verify reasons.
const (
	// ReasonChain: an event's hash does not match ChainHash over it and the
	// hash before it (an event was edited, inserted or removed).
	ReasonChain VerifyReason = "chain"
	// ReasonTree: the Merkle root over the events differs from a
	// checkpoint's.
	ReasonTree VerifyReason = "tree"
	// ReasonSignature: a checkpoint is not signed by the log's key (or by
	// VerifyRequest.PublicKey when given).
	ReasonSignature VerifyReason = "signature"
	// ReasonConsistency: a checkpoint does not extend the one before it.
	ReasonConsistency VerifyReason = "consistency"
	// ReasonTruncated: the log holds fewer events than its latest
	// checkpoint covers.
	ReasonTruncated VerifyReason = "truncated"
	// ReasonRollback: the log or its checkpoints are older than what the
	// caller last saw (VerifyRequest.KnownSize).
	ReasonRollback VerifyReason = "rollback"
)

// GetCheckpointRequest asks for the latest checkpoint.
type GetCheckpointRequest struct {
	// Take makes the sink take a new checkpoint over the whole log first,
	// unless the latest already covers it.
	Take bool
}

// GetCheckpointResponse holds the latest checkpoint.
type GetCheckpointResponse struct {
	Checkpoint Checkpoint
}

// Checkpoint is a signed statement of the log's Merkle tree: its size and
// root hash.
type Checkpoint struct {
	// Origin names the log, for example "mikrobill-audit".
	Origin string
	// Size is how many events the tree covers: those with Sequence
	// 1..Size, live and archived.
	Size uint64
	// RootHash is the RFC 6962 Merkle tree hash over the leaves
	// LeafHash(event) in sequence order.
	RootHash []byte
	// Time is when it was taken.
	Time time.Time
	// PublicKey is the Ed25519 public key that signed it.
	PublicKey []byte
	// Signature is the Ed25519 signature over SignedBytes.
	Signature []byte
}

// SignedBytes returns the canonical text a checkpoint's signature covers,
// four lines each ending in "\n":
//
//	mikrobill-audit
//	1000
//	<the root hash in standard base64 with padding>
//	2025-03-14T09:26:53.5897932Z
//
// that is the origin, the size in decimal, the root hash, and the time in
// UTC formatted with time.RFC3339Nano. The encoding is part of the
// protocol: never change it.
func (c *Checkpoint) SignedBytes() []byte {
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.RootHash))
	b.WriteByte('\n')
	b.WriteString(c.Time.UTC().Format(time.RFC3339Nano))
	b.WriteByte('\n')
	return []byte(b.String())
}

// Sign sets PublicKey and Signature by signing SignedBytes with key.
func (c *Checkpoint) Sign(key ed25519.PrivateKey) {
	c.PublicKey = bytes.Clone(key.Public().(ed25519.PublicKey))
	c.Signature = ed25519.Sign(key, c.SignedBytes())
}

// Verify checks the checkpoint's signature against pub, a key the reader
// trusts (not the checkpoint's own PublicKey field, which anyone can set).
// The error wraps sdk.ErrUnauthenticated and says which key signed it.
func (c *Checkpoint) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: the trusted public key has %d bytes, want an Ed25519 key of %d", sdk.ErrInvalidArgument, len(pub), ed25519.PublicKeySize)
	}
	if len(c.RootHash) != sha256.Size {
		return fmt.Errorf("%w: checkpoint of size %d has a root hash of %d bytes, want %d", sdk.ErrUnauthenticated, c.Size, len(c.RootHash), sha256.Size)
	}
	if !ed25519.Verify(pub, c.SignedBytes(), c.Signature) {
		signer := "an unknown key"
		if len(c.PublicKey) == ed25519.PublicKeySize && !bytes.Equal(c.PublicKey, pub) {
			signer = "key " + KeyFingerprint(c.PublicKey)
		}
		return fmt.Errorf("%w: checkpoint of size %d is not signed by key %s (it names %s)", sdk.ErrUnauthenticated, c.Size, KeyFingerprint(pub), signer)
	}
	return nil
}

// KeyFingerprint returns how operators see a public key: "SHA256:" and the
// unpadded standard base64 of the SHA-256 of the key's bytes, the form ssh
// shows keys in.
func KeyFingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// LeafHash returns the RFC 6962 leaf hash of a stored event: SHA-256 of
// the byte 0x00 followed by the 32 bytes its Hash (hex) stands for. Since
// Hash covers the event and the hash before it, the tree commits to the
// whole chain. An event whose Hash is not 64 hex digits is an error.
func LeafHash(e *Event) ([]byte, error) {
	h, err := hex.DecodeString(e.Hash)
	if err != nil || len(h) != sha256.Size {
		return nil, fmt.Errorf("%w: audit event %q: hash %q is not 64 hex digits (a SHA-256)", sdk.ErrInvalidArgument, e.ID, e.Hash)
	}
	return rfc6962.DefaultHasher.HashLeaf(h), nil
}

// ProveInclusionRequest asks for the proof that one event is in the log.
type ProveInclusionRequest struct {
	EventID string
	// TreeSize is the size of the checkpoint to prove against; 0 means the
	// latest checkpoint.
	TreeSize uint64
}

// ProveInclusionResponse is everything an offline reader needs, with the
// log's public key, to check that Event is in the log: see VerifyInclusion.
type ProveInclusionResponse struct {
	// Event as stored, with Sequence, Hash and PrevHash.
	Event Event
	// LeafIndex is the event's leaf: Sequence-1.
	LeafIndex uint64
	// Checkpoint is the signed checkpoint the proof leads to.
	Checkpoint Checkpoint
	// Proof is the RFC 6962 audit path from the leaf to the checkpoint's
	// root.
	Proof [][]byte
}

// VerifyInclusion checks, with the public key alone: the checkpoint's
// signature, that the event's Hash is ChainHash(PrevHash, event), and that
// the proof leads from LeafHash(event) to the checkpoint's root. The error
// says which of these failed.
func VerifyInclusion(pub ed25519.PublicKey, p *ProveInclusionResponse) error {
	if p == nil {
		return fmt.Errorf("%w: no inclusion proof", sdk.ErrInvalidArgument)
	}
	if err := p.Checkpoint.Verify(pub); err != nil {
		return err
	}
	e := p.Event
	if want := ChainHash(e.PrevHash, e); e.Hash != want {
		return fmt.Errorf("%w: audit event %q: its hash %s is not ChainHash over it and its previous hash (%s): the event was changed", sdk.ErrUnauthenticated, e.ID, e.Hash, want)
	}
	if e.Sequence != p.LeafIndex+1 {
		return fmt.Errorf("%w: audit event %q has sequence %d but the proof is for leaf %d (sequence %d)", sdk.ErrUnauthenticated, e.ID, e.Sequence, p.LeafIndex, p.LeafIndex+1)
	}
	leaf, err := LeafHash(&e)
	if err != nil {
		return err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.Checkpoint.Size, leaf, p.Proof, p.Checkpoint.RootHash); err != nil {
		return fmt.Errorf("%w: audit event %q (leaf %d) is not in the tree of checkpoint size %d: %v", sdk.ErrUnauthenticated, e.ID, p.LeafIndex, p.Checkpoint.Size, err)
	}
	return nil
}

// noProofs turns the Unimplemented answer of a sink without Prover (or of
// a plugin built before Prover existed, which answers without a reason)
// into an error matching ErrNoProofs.
func noProofs(err error) error {
	if errors.Is(err, sdk.ErrNotSupported) && !errors.Is(err, ErrNoProofs) {
		return fmt.Errorf("%w: %v", ErrNoProofs, err)
	}
	return err
}
