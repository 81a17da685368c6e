package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
	var ts string
	if !e.Time.IsZero() {
		ts = e.Time.UTC().Format(time.RFC3339Nano)
	}
	fields := [...]string{chainDomain, prevHash, e.ID, ts, e.Actor, e.Action, e.ResourceType, e.ResourceID, string(e.Outcome), e.RemoteAddr, e.RequestID}
	n := 8 * (len(fields) + 1 + 2*len(e.Metadata))
	for _, f := range fields {
		n += len(f)
	}
	// On the stack for the common sizes: Verify hashes every event of the
	// log, and each allocation here was one per event.
	var keyArr [8]string
	keys := keyArr[:0]
	for k, v := range e.Metadata {
		keys = append(keys, k)
		n += len(k) + len(v)
	}
	slices.Sort(keys)
	// The whole encoding in one buffer, hashed once: Verify hashes every
	// event of the log, and a write per field cost an allocation each.
	var bufArr [1024]byte
	b := bufArr[:0]
	if n > len(bufArr) {
		b = make([]byte, 0, n)
	}
	for _, f := range fields {
		b = appendField(b, f)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendField(b, k)
		b = appendField(b, e.Metadata[k])
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendField appends s with its length in front: 8 bytes, unsigned, big
// endian.
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}
