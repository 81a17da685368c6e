// Package audit is the contract of audit log plugins (kind "audit"): an
// append-only, hash-chained record of who did what.
//
// Start with the Sink interface. A plugin is a type that embeds sdk.Base
// (which holds the plugin's logger and the host's services), implements
// Sink and sdk.Plugin's Describe, and is served from main with sdk.Serve:
// package sdk's example is a whole plugin, of another kind.
//
// The host sends batches of events to Append. The sink checks each with
// Event.Validate, gives it the next sequence number, and stores it with
// PrevHash set to the hash of the event before it and Hash set to
// ChainHash(PrevHash, event). Because every hash covers the one before it,
// changing or removing a stored event breaks the chain from that event on,
// and Verify (or any verifier holding the events and ChainHash) finds where.
// Query reads the log back, a page at a time.
//
// A chain alone does not catch everything: whoever can write the log can
// cut off its tail, or rewrite it from some event on and recompute every
// hash after. A sink that also implements Prover (capability
// "audit.proofs") keeps a Merkle tree over the log in the form of RFC 6962
// (Certificate Transparency), whose leaves are LeafHash(event), and signs
// checkpoints of it (Checkpoint: the tree's size and root hash, signed with
// an Ed25519 key the sink keeps). Verify then also checks the tree against
// the latest checkpoint, every checkpoint's signature, and that each
// checkpoint extends the one before; with VerifyRequest.KnownSize and
// PublicKey, kept by the caller outside the sink, a log rolled back to an
// older copy or re-signed with another key fails too (VerifyResponse.Reason
// says which check failed). ProveInclusion proves one event is in the log
// under a checkpoint, and VerifyInclusion checks such a proof offline with
// the public key alone.
package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/internal/rpcerr"
)

// Sink is what every audit log plugin implements. Every method exists since
// protocol version 1.
type Sink interface {
	sdk.Plugin
	// Append stores a batch of events in order. An event whose
	// ID was stored before is counted as a duplicate and not stored again,
	// so the host can retry a batch. Refuse an invalid event with the
	// error of Event.Validate, and refuse to extend a chain that does not
	// verify with ErrChainBroken.
	Append(ctx context.Context, req *AppendRequest) (*AppendResponse, error)
	// Query reads events that match every filter set, a page at a time. A
	// page token the sink cannot read is ErrInvalidPageToken.
	Query(ctx context.Context, req *QueryRequest) (*QueryResponse, error)
	// Verify checks the hash chain over a range of sequence numbers. A
	// broken chain is a result (VerifyResponse.OK false), not an error.
	Verify(ctx context.Context, req *VerifyRequest) (*VerifyResponse, error)
}

// Sentinel errors of audit plugins. Each also matches a general sdk
// sentinel (shown in brackets), so the host can treat them by category.
var (
	// ErrChainBroken: the stored hash chain does not verify, so the sink
	// will not extend it; an operator must look at the log (run Verify to
	// find the first bad event) [sdk.ErrFailedPrecondition].
	ErrChainBroken = rpcerr.New(codes.FailedPrecondition, "AUDIT_CHAIN_BROKEN", "audit hash chain broken", sdk.ErrFailedPrecondition)
	// ErrInvalidPageToken: the page token did not come from this sink's
	// QueryResponse.NextPageToken, or no longer works; query again from the
	// first page [sdk.ErrInvalidArgument].
	ErrInvalidPageToken = rpcerr.New(codes.InvalidArgument, "AUDIT_INVALID_PAGE_TOKEN", "invalid page token", sdk.ErrInvalidArgument)
)

// Outcome is how an action ended. The empty Outcome is unspecified.
type Outcome string

// Outcomes.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
)

// Event is one thing that happened.
type Event struct {
	// ID is unique, chosen by the producer; it makes Append idempotent.
	// Required.
	ID string
	// Time is when it happened.
	Time time.Time
	// Actor is who did it: a user id, "system", or a plugin name. Required.
	Actor string
	// Action is what was done, for example "invoice.paid" or
	// "plugin.restart". Required.
	Action string
	// ResourceType and ResourceID name what it was done to, for example
	// "invoice" and "42".
	ResourceType string
	ResourceID   string
	// Outcome is OutcomeSuccess, OutcomeFailure or empty.
	Outcome Outcome
	// RemoteAddr is the address the request came from, if any.
	RemoteAddr string
	// RequestID is the host's id for the request, for correlating logs.
	RequestID string
	// Metadata holds more detail. Never put secrets here: the log keeps
	// them forever.
	Metadata map[string]string

	// Sequence (output only) is the event's position in the log, from 1.
	Sequence uint64
	// Hash (output only) is ChainHash(PrevHash, event), in hex.
	Hash string
	// PrevHash (output only) is the previous event's Hash; empty for the
	// first event.
	PrevHash string
}

// Validate checks the event as every sink needs it. Sinks call it on each
// event before storing anything; it returns an error wrapping
// sdk.ErrInvalidArgument that names every problem.
func (e *Event) Validate() error {
	var problems []string
	if strings.TrimSpace(e.ID) == "" {
		problems = append(problems, "id is required (a unique id, so a retried Append stores the event once)")
	}
	if strings.TrimSpace(e.Actor) == "" {
		problems = append(problems, `actor is required (a user id, "system", or a plugin name)`)
	}
	if strings.TrimSpace(e.Action) == "" {
		problems = append(problems, `action is required (for example "invoice.paid")`)
	}
	switch e.Outcome {
	case "", OutcomeSuccess, OutcomeFailure:
	default:
		problems = append(problems, fmt.Sprintf("outcome must be %q, %q or empty, got %q", OutcomeSuccess, OutcomeFailure, e.Outcome))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: audit event %q: %s", sdk.ErrInvalidArgument, e.ID, strings.Join(problems, "; "))
	}
	return nil
}

// AppendRequest stores events.
type AppendRequest struct {
	// Events in the order to store them. Their output-only fields are
	// ignored.
	Events []Event
}

// AppendResponse says what was stored.
type AppendResponse struct {
	// Appended is how many events were stored.
	Appended int
	// Duplicates is how many events were stored before and skipped.
	Duplicates int
	// LastSequence is the sequence number of the newest event in the log.
	LastSequence uint64
	// HeadHash is the Hash of the newest event in the log.
	HeadHash string
}

// QueryRequest filters events. Filters left empty match every event.
type QueryRequest struct {
	Actor        string
	Action       string
	ResourceType string
	ResourceID   string
	Outcome      Outcome
	// Since and Until bound Time: events at or after Since and before
	// Until. The zero time leaves that side open.
	Since time.Time
	Until time.Time
	// PageSize is the most events to return; the sink caps it, and 0 means
	// the sink's default.
	PageSize int
	// PageToken is a previous QueryResponse's NextPageToken; empty for the
	// first page. Keep the filters the same from page to page.
	PageToken string
	// Descending returns the newest events first.
	Descending bool
}

// QueryResponse is one page of events.
type QueryResponse struct {
	Events []Event
	// NextPageToken asks for the next page; empty on the last page.
	NextPageToken string
}

// VerifyRequest checks the chain over a range of sequence numbers,
// inclusive. Zero values mean from the first event and to the last.
type VerifyRequest struct {
	FromSequence uint64
	ToSequence   uint64
	// KnownSize is the largest checkpoint size the caller saw before (kept
	// outside the sink, in the caller's own store). A log whose latest
	// checkpoint is smaller fails with ReasonRollback: this is how swapping
	// in an older copy of the whole log is detected. 0: not known.
	KnownSize uint64
	// PublicKey is the Ed25519 public key the caller trusts. When set, a
	// checkpoint signed by another key fails with ReasonSignature, which
	// catches a log re-signed with a new key. Empty: the log's own key.
	PublicKey []byte
}

// VerifyResponse is the result of a check.
type VerifyResponse struct {
	// OK reports whether every checked event's hashes match.
	OK bool
	// Checked is how many events were checked.
	Checked uint64
	// FirstBadSequence is the first event whose hash does not match, when
	// OK is false.
	FirstBadSequence uint64
	// Message says what did not match, for operators.
	Message string
	// HeadHash is the Hash of the newest event in the log.
	HeadHash string
	// Checkpoint is the latest checkpoint, verified (signature, root over
	// the events) when OK. Nil for a sink without checkpoints.
	Checkpoint *Checkpoint
	// CheckpointsChecked is how many checkpoints' signatures and
	// consistency proofs were checked.
	CheckpointsChecked uint64
	// Reason names the kind of failure when OK is false, one of the
	// VerifyReason constants.
	Reason VerifyReason
}
