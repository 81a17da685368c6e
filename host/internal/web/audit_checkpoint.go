package web

// GET /api/v1/audit/checkpoint: the audit plugin's latest signed
// checkpoint (the Merkle tree's size and root, signed with the log's
// Ed25519 key), with the key's fingerprint and whether it is the key the
// host pinned. An export from the plugin ends with the checkpoint it ends
// at (exportAudit).

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

// checkpointJSON is a checkpoint as the API shows it: byte fields in
// standard base64, as audit.Checkpoint.SignedBytes writes the root.
type checkpointJSON struct {
	Origin    string    `json:"origin"`
	Size      uint64    `json:"size"`
	RootHash  []byte    `json:"root_hash"`
	Time      time.Time `json:"time"`
	PublicKey []byte    `json:"public_key"`
	Signature []byte    `json:"signature"`
	// KeyFingerprint is audit.KeyFingerprint of PublicKey, as `mikrobill
	// plugin inspect audit` and the audit page show it.
	KeyFingerprint string `json:"key_fingerprint"`
	// Trusted says the checkpoint is signed by the key the host pinned
	// when it first saw the log.
	Trusted bool `json:"trusted"`
}

func toCheckpointJSON(cp *audit.Checkpoint, trusted bool) *checkpointJSON {
	return &checkpointJSON{Origin: cp.Origin, Size: cp.Size, RootHash: cp.RootHash, Time: cp.Time.UTC(), PublicKey: cp.PublicKey,
		Signature: cp.Signature, KeyFingerprint: fingerprintOf(cp.PublicKey), Trusted: trusted}
}

// fingerprintOf is the fingerprint of an Ed25519 key, "" for anything
// else.
func fingerprintOf(key []byte) string {
	if len(key) != 32 {
		return ""
	}
	return audit.KeyFingerprint(key)
}

// auditCheckpoint answers the latest checkpoint; ?take=true signs a new
// one over the whole log first (unless the latest covers it).
func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	take := false
	switch v := r.URL.Query().Get("take"); v {
	case "", "false", "0":
	case "true", "1":
		take = true
	default:
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "some fields are not valid; see details",
			FieldErrors{"take": `"true" to sign a new checkpoint over the whole log first, or leave it out`}}
	}
	cp, trusted, err := s.deps.Billing.AuditCheckpoint(r.Context(), take)
	if err != nil {
		return auditPluginRefusal(err)
	}
	writeJSON(w, http.StatusOK, toCheckpointJSON(cp, trusted))
	return nil
}

// auditPluginRefusal words the errors of the audit plugin's checkpoints
// and proofs for the API.
func auditPluginRefusal(err error) error {
	switch {
	case errors.Is(err, billing.ErrNoAuditPlugin):
		return &apiError{http.StatusNotFound, "no_audit_plugin", "no audit plugin is running: the host's own audit log has no checkpoints; install the audit plugin (docs/operations.md, The audit trail)", nil}
	case errors.Is(err, audit.ErrNoProofs):
		return &apiError{http.StatusNotImplemented, "not_supported", "the audit plugin keeps no Merkle tree or signed checkpoints: " + err.Error(), nil}
	}
	return err
}

// exportCheckpoint is the last line of a JSON Lines export from the
// plugin.
type exportCheckpoint struct {
	Checkpoint *checkpointJSON `json:"checkpoint"`
}

// writeCheckpointLine writes the export's closing line.
func writeCheckpointLine(enc *json.Encoder, cp *checkpointJSON) error {
	return enc.Encode(exportCheckpoint{Checkpoint: cp})
}
