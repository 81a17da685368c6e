package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// A blob is a value of any size in the host's durable store, whose values
// are at most sdk.MaxValueBytes: a header at the blob's key, and, when the
// data is larger than inlineBytes, parts at prefixChunk + key + "/" + the
// part's SHA-256. The parts are cut where the content says (a rolling hash,
// as in backup tools), not at fixed offsets, so a change in the middle of
// the data (one signal session of a device among thousands) changes the
// part around it and leaves the others as they were: a new version writes
// only the parts the previous one lacks. Parts are written first and the
// header last, so a reader sees one version or the other, whole; the parts
// only the old version used are deleted after the header.

// inlineBytes is the largest blob kept in its header; the parts are
// minPart to maxPart bytes, about avgPartBits' power of two on average.
const (
	inlineBytes = 16 << 10
	minPart     = 16 << 10
	maxPart     = 256 << 10
	avgPartBits = 16 // 64 KiB
)

// blobHeader is the value at a blob's key.
type blobHeader struct {
	// Gen numbers the versions of the key: a writer that finds a higher
	// generation in the store than the one it wrote or read last has been
	// overtaken (another host runs the session) and does not write.
	Gen    int64  `json:"gen"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	// Parts are the SHA-256 of each part, in order; Inline is the data of
	// a small blob.
	Parts   []string  `json:"parts,omitempty"`
	Inline  []byte    `json:"inline,omitempty"`
	Deleted bool      `json:"deleted,omitempty"`
	Updated time.Time `json:"updated"`
}

func partKey(key, sum string) string { return prefixChunk + key + "/" + sum }

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// gear is the rolling hash's table: 256 fixed pseudo-random numbers
// (splitmix64 from a fixed seed), the same in every build.
var gear = func() (t [256]uint64) {
	x := uint64(0x6d696b726f62696c) // "mikrobil"
	for i := range t {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		t[i] = z ^ (z >> 31)
	}
	return t
}()

// splitParts cuts data where the gear hash of the last 64 bytes has its
// top avgPartBits bits zero, keeping parts between minPart and maxPart.
func splitParts(data []byte) [][]byte {
	var out [][]byte
	start := 0
	var h uint64
	for i, c := range data {
		h = h<<1 + gear[c]
		n := i + 1 - start
		if n < minPart {
			continue
		}
		if h>>(64-avgPartBits) == 0 || n >= maxPart {
			out = append(out, data[start:i+1])
			start, h = i+1, 0
		}
	}
	if start < len(data) {
		out = append(out, data[start:])
	}
	return out
}

// putBlob writes data at key as generation gen; prev is the version it
// replaces (zero when none): its parts are reused, and the ones the new
// version does not use are deleted.
func (s *shared) putBlob(ctx context.Context, key string, gen int64, data []byte, ttl time.Duration, prev blobHeader) error {
	hdr := blobHeader{Gen: gen, Size: len(data), SHA256: hashOf(data), Updated: time.Now().UTC()}
	if len(data) <= inlineBytes {
		hdr.Inline = data
	} else {
		have := map[string]bool{}
		for _, p := range prev.Parts {
			have[p] = true
		}
		for _, part := range splitParts(data) {
			sum := hashOf(part)
			hdr.Parts = append(hdr.Parts, sum)
			if have[sum] {
				continue
			}
			if _, err := s.h.StoreSet(ctx, partKey(key, sum), part, sdk.StoreSetOptions{TTL: ttl}); err != nil {
				return storeErr("write a part of "+key, err)
			}
			have[sum] = true
		}
	}
	if err := s.putJSON(ctx, key, hdr, ttl); err != nil {
		return err
	}
	s.dropParts(ctx, key, prev, hdr)
	return nil
}

// readBlob reads the data of a header read from key.
func (s *shared) readBlob(ctx context.Context, key string, hdr blobHeader) ([]byte, error) {
	data := hdr.Inline
	if len(hdr.Parts) > 0 {
		data = make([]byte, 0, hdr.Size)
		for i, sum := range hdr.Parts {
			part, ok, err := s.h.StoreGet(ctx, partKey(key, sum))
			if err != nil {
				return nil, storeErr("read a part of "+key, err)
			}
			if !ok || hashOf(part) != sum {
				return nil, fmt.Errorf("%w: part %d of %s (generation %d) is missing from the durable store or damaged; it was replaced while read, try again", sdk.ErrUnavailable, i, key, hdr.Gen)
			}
			data = append(data, part...)
		}
	}
	if len(data) != hdr.Size || hashOf(data) != hdr.SHA256 {
		return nil, fmt.Errorf("%w: %s (generation %d) does not match its checksum; it was replaced while read, try again", sdk.ErrUnavailable, key, hdr.Gen)
	}
	return data, nil
}

// dropParts deletes the parts of old that next does not use.
func (s *shared) dropParts(ctx context.Context, key string, old, next blobHeader) {
	keep := map[string]bool{}
	for _, p := range next.Parts {
		keep[p] = true
	}
	for _, p := range old.Parts {
		if keep[p] {
			continue
		}
		keep[p] = true // listed twice: deleted once
		if _, err := s.h.StoreDelete(ctx, partKey(key, p)); err != nil {
			s.p.log().Warn("cannot delete an old part of a record in the durable store; it stays until deleted by hand", "key", partKey(key, p), "error", err)
		}
	}
}
