package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// countingHost counts the durable store's writes.
type countingHost struct {
	*sdktest.FakeHost
	sets atomic.Int64
}

func (h *countingHost) StoreSet(ctx context.Context, key string, value []byte, opts sdk.StoreSetOptions) (bool, error) {
	h.sets.Add(1)
	return h.FakeHost.StoreSet(ctx, key, value, opts)
}

func testShared(h sdk.Host) *shared {
	p := NewPlugin(nil)
	p.logger = hclog.NewNullLogger()
	return newShared(p, h, nil, nil)
}

// A blob larger than the host's largest value goes in parts; a new version
// that changes a few bytes writes only the parts around them, and the
// parts no version uses any more are deleted.
func TestBlobParts(t *testing.T) {
	ctx := context.Background()
	h := &countingHost{FakeHost: sdktest.NewFakeHost()}
	s := testShared(h)
	data := make([]byte, 3<<20) // three times sdk.MaxValueBytes
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	const key = prefixDevice + "main"
	if err := s.putBlob(ctx, key, 1, data, 0, blobHeader{}); err != nil {
		t.Fatal(err)
	}
	var v1 blobHeader
	if ok, err := s.getJSON(ctx, key, &v1); !ok || err != nil {
		t.Fatalf("header: %v, %v", ok, err)
	}
	if len(v1.Parts) < len(data)/maxPart {
		t.Fatalf("%d parts for %d bytes", len(v1.Parts), len(data))
	}
	got, err := s.readBlob(ctx, key, v1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v; want the %d written", len(got), err, len(data))
	}

	changed := bytes.Clone(data)
	copy(changed[len(changed)/2:], "a ratcheted signal session")
	h.sets.Store(0)
	if err := s.putBlob(ctx, key, 2, changed, 0, v1); err != nil {
		t.Fatal(err)
	}
	if n := h.sets.Load(); n > 3 {
		t.Errorf("a 26-byte change wrote %d values (of %d parts); want the changed part or two and the header", n, len(v1.Parts))
	}
	var v2 blobHeader
	if _, err := s.getJSON(ctx, key, &v2); err != nil {
		t.Fatal(err)
	}
	if got, err := s.readBlob(ctx, key, v2); err != nil || !bytes.Equal(got, changed) {
		t.Fatalf("read back the new version: %v", err)
	}
	parts, err := h.StoreList(ctx, prefixChunk, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, p := range v2.Parts {
		want[partKey(key, p)] = true
	}
	if len(parts) != len(want) {
		t.Errorf("%d parts in the store, want the %d of the current version", len(parts), len(want))
	}
	for _, p := range parts {
		if !want[p.Key] {
			t.Errorf("part %s of no version left in the store", p.Key)
		}
		if len(p.Value) > maxPart {
			t.Errorf("part %s has %d bytes, over %d", p.Key, len(p.Value), maxPart)
		}
	}
	// A damaged part is refused, not imported.
	if _, err := h.StoreSet(ctx, partKey(key, v2.Parts[0]), []byte("damaged"), sdk.StoreSetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.readBlob(ctx, key, v2); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("read of a damaged blob: %v", err)
	}
	if len(h.Refused()) > 0 {
		t.Errorf("the host refused: %v", h.Refused())
	}
}

// bytesHost counts the bytes the durable store is given.
type bytesHost struct {
	*sdktest.FakeHost
	written atomic.Int64
}

func (h *bytesHost) StoreSet(ctx context.Context, key string, value []byte, opts sdk.StoreSetOptions) (bool, error) {
	h.written.Add(int64(len(value)))
	return h.FakeHost.StoreSet(ctx, key, value, opts)
}

// BenchmarkBlobRewrite writes a new version of a 4 MiB device state (the
// size BenchmarkExport measures for 2,000 signal sessions) in which one
// 1.5 KB record changed, as after a message to one customer: the bytes
// written to the durable store per version, against the whole state.
func BenchmarkBlobRewrite(b *testing.B) {
	ctx := context.Background()
	h := &bytesHost{FakeHost: sdktest.NewFakeHost()}
	s := testShared(h)
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(r.UintN(256))
	}
	const key = prefixDevice + "main"
	var prev blobHeader
	if err := s.putBlob(ctx, key, 1, data, 0, prev); err != nil {
		b.Fatal(err)
	}
	if _, err := s.getJSON(ctx, key, &prev); err != nil {
		b.Fatal(err)
	}
	h.written.Store(0)
	b.ResetTimer()
	for i := range b.N {
		at := r.IntN(len(data) - 1500)
		for j := range 1500 {
			data[at+j] = byte(r.UintN(256))
		}
		if err := s.putBlob(ctx, key, int64(i+2), data, 0, prev); err != nil {
			b.Fatal(err)
		}
		if _, err := s.getJSON(ctx, key, &prev); err != nil {
			b.Fatal(err)
		}
	}
	per := float64(h.written.Load()) / float64(b.N)
	b.ReportMetric(per/1024, "written-KiB/op")
	b.ReportMetric(per/float64(len(data)), "written/state")
}
