package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"time"
)

// chainDomain starts every hashed encoding, so these hashes can never be
// mistaken for hashes of anything else. Never change it.
const chainDomain = "mikrobill.audit.v1"

// ChainHash returns the hash that links e into the log after an event whose
// hash is prevHash (the empty string for the first event): the lowercase hex
// SHA-256 of the encoding below. Sinks store it as e.Hash; verifiers
// recompute it. The encoding is part of the protocol: never change it.
//
// Each field is written as its length in bytes (8 bytes, unsigned, big
// endian) followed by its bytes, so no two different events encode alike.
// In order:
//
//  1. the string "mikrobill.audit.v1"
//  2. prevHash
//  3. e.ID
//  4. e.Time in UTC, formatted with time.RFC3339Nano
//     ("2025-03-14T09:26:53.5897932Z"); the empty string for the zero time
//  5. e.Actor
//  6. e.Action
//  7. e.ResourceType
//  8. e.ResourceID
//  9. e.Outcome
//  10. e.RemoteAddr
//  11. e.RequestID
//  12. the number of metadata entries (8 bytes, unsigned, big endian),
//     then for each entry in increasing byte order of its key: the key, then
//     the value, each as a field
//
// Strings are encoded as their bytes, as is (no normalization). The
// output-only fields (Sequence, Hash, PrevHash) are not hashed: prevHash is
// the argument, and each event's place in the log is fixed by the chain.
func ChainHash(prevHash string, e Event) string {
	h := sha256.New()
	writeField(h, chainDomain)
	writeField(h, prevHash)
	writeField(h, e.ID)
	var ts string
	if !e.Time.IsZero() {
		ts = e.Time.UTC().Format(time.RFC3339Nano)
	}
	writeField(h, ts)
	writeField(h, e.Actor)
	writeField(h, e.Action)
	writeField(h, e.ResourceType)
	writeField(h, e.ResourceID)
	writeField(h, string(e.Outcome))
	writeField(h, e.RemoteAddr)
	writeField(h, e.RequestID)
	keys := make([]string, 0, len(e.Metadata))
	for k := range e.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	writeLen(h, len(keys))
	for _, k := range keys {
		writeField(h, k)
		writeField(h, e.Metadata[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeField writes s with its length in front.
func writeField(h hash.Hash, s string) {
	writeLen(h, len(s))
	h.Write([]byte(s)) // a hash.Hash never returns an error
}

// writeLen writes n as 8 bytes, unsigned, big endian.
func writeLen(h hash.Hash, n int) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}
