package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/sdk"
)

// testKey is a fixed Ed25519 key, so signatures in tests are reproducible.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// mth is RFC 6962's Merkle tree hash, written from the RFC's definition
// (section 2.1) independently of the library VerifyInclusion uses.
func mth(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		s := sha256.Sum256(nil)
		return s[:]
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	s := sha256.Sum256(append(append([]byte{1}, mth(leaves[:k])...), mth(leaves[k:])...))
	return s[:]
}

// path is RFC 6962's audit path PATH(m, D[n]) (section 2.1.1).
func path(m int, leaves [][]byte) [][]byte {
	if len(leaves) <= 1 {
		return nil
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	if m < k {
		return append(path(m, leaves[:k]), mth(leaves[k:]))
	}
	return append(path(m-k, leaves[k:]), mth(leaves[:k]))
}

// memoryProver adds Prover to memorySink: a checkpoint over every event.
type memoryProver struct {
	memorySink
}

var _ Prover = (*memoryProver)(nil)

func (s *memoryProver) leaves(t testing.TB) [][]byte {
	var out [][]byte
	for i := range s.events {
		l, err := LeafHash(&s.events[i])
		if err != nil {
			t.Fatalf("LeafHash: %v", err)
		}
		out = append(out, l)
	}
	return out
}

func (s *memoryProver) checkpoint() Checkpoint {
	c := Checkpoint{Origin: "test-log", Size: uint64(len(s.events)), RootHash: mth(s.leaves(nil)), Time: t0}
	c.Sign(testKey)
	return c
}

func (s *memoryProver) GetCheckpoint(context.Context, *GetCheckpointRequest) (*GetCheckpointResponse, error) {
	return &GetCheckpointResponse{Checkpoint: s.checkpoint()}, nil
}

func (s *memoryProver) ProveInclusion(_ context.Context, req *ProveInclusionRequest) (*ProveInclusionResponse, error) {
	for i, e := range s.events {
		if e.ID == req.EventID {
			return &ProveInclusionResponse{Event: e, LeafIndex: uint64(i), Checkpoint: s.checkpoint(), Proof: path(i, s.leaves(nil))}, nil
		}
	}
	return nil, fmt.Errorf("event %q: %w", req.EventID, ErrUnknownEvent)
}

func fillLog(t *testing.T, s Sink, n int) {
	t.Helper()
	var evs []Event
	for i := range n {
		evs = append(evs, Event{ID: fmt.Sprintf("e%d", i), Time: t0.Add(time.Duration(i) * time.Second), Actor: "admin-1", Action: "invoice.paid", Metadata: map[string]string{"n": fmt.Sprint(i)}})
	}
	if _, err := s.Append(context.Background(), &AppendRequest{Events: evs}); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func TestCheckpointSignedBytes(t *testing.T) {
	c := Checkpoint{Origin: "mikrobill-audit", Size: 1000, RootHash: bytes.Repeat([]byte{0xab}, 32), Time: time.Date(2025, 3, 14, 9, 26, 53, 589793200, time.FixedZone("WIB", 7*3600))}
	want := "mikrobill-audit\n1000\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n2025-03-14T02:26:53.5897932Z\n"
	if got := string(c.SignedBytes()); got != want {
		t.Errorf("SignedBytes = %q, want %q (the encoding is part of the protocol)", got, want)
	}
}

func TestCheckpointVerify(t *testing.T) {
	pub := testKey.Public().(ed25519.PublicKey)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	otherPub := other.Public().(ed25519.PublicKey)
	signed := func() Checkpoint {
		c := Checkpoint{Origin: "mikrobill-audit", Size: 3, RootHash: bytes.Repeat([]byte{1}, 32), Time: t0}
		c.Sign(testKey)
		return c
	}
	if c := signed(); c.Verify(pub) != nil || !bytes.Equal(c.PublicKey, pub) {
		t.Fatalf("a checkpoint signed with the key: Verify = %v, PublicKey = %x", c.Verify(pub), c.PublicKey)
	}
	tests := []struct {
		name   string
		change func(c *Checkpoint)
		key    ed25519.PublicKey
		want   error
		msg    string
	}{
		{"size changed", func(c *Checkpoint) { c.Size = 2 }, pub, sdk.ErrUnauthenticated, "size 2 is not signed by key " + KeyFingerprint(pub)},
		{"root changed", func(c *Checkpoint) { c.RootHash[0] ^= 1 }, pub, sdk.ErrUnauthenticated, "not signed"},
		{"time changed", func(c *Checkpoint) { c.Time = c.Time.Add(time.Nanosecond) }, pub, sdk.ErrUnauthenticated, "not signed"},
		{"origin changed", func(c *Checkpoint) { c.Origin = "other" }, pub, sdk.ErrUnauthenticated, "not signed"},
		{"re-signed with another key", func(c *Checkpoint) { c.Sign(other) }, pub, sdk.ErrUnauthenticated, "it names key " + KeyFingerprint(otherPub)},
		{"short root", func(c *Checkpoint) { c.RootHash = c.RootHash[:31] }, pub, sdk.ErrUnauthenticated, "root hash of 31 bytes"},
		{"bad trusted key", func(*Checkpoint) {}, pub[:5], sdk.ErrInvalidArgument, "has 5 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := signed()
			tt.change(&c)
			err := c.Verify(tt.key)
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Errorf("Verify = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestKeyFingerprint(t *testing.T) {
	// ssh-keygen -lf shows the same form: SHA256: and unpadded base64.
	got := KeyFingerprint(make([]byte, ed25519.PublicKeySize))
	if got != "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU" {
		t.Errorf("KeyFingerprint(zero key) = %q", got)
	}
}

func TestLeafHash(t *testing.T) {
	e := fullEvent
	got, err := LeafHash(&e)
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte{0}
	for i := 0; i < len(e.Hash); i += 2 {
		var b byte
		fmt.Sscanf(e.Hash[i:i+2], "%02x", &b)
		raw = append(raw, b)
	}
	want := sha256.Sum256(raw)
	if !bytes.Equal(got, want[:]) {
		t.Errorf("LeafHash = %x, want SHA-256(0x00 || hash) = %x", got, want)
	}
	for _, h := range []string{"", "zz", fullEvent.Hash[:62]} {
		e.Hash = h
		if _, err := LeafHash(&e); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("LeafHash(hash %q) = %v, want ErrInvalidArgument", h, err)
		}
	}
}

func TestProverOverGRPC(t *testing.T) {
	ctx := context.Background()
	pub := testKey.Public().(ed25519.PublicKey)
	sink := &memoryProver{}
	s := serveSink(t, sink)
	p, ok := s.(Prover)
	if !ok {
		t.Fatal("the host's client does not implement Prover")
	}
	fillLog(t, s, 11)

	cp, err := p.GetCheckpoint(ctx, &GetCheckpointRequest{Take: true})
	if err != nil {
		t.Fatalf("GetCheckpoint: %v", err)
	}
	if diff := cmp.Diff(sink.checkpoint(), cp.Checkpoint); diff != "" {
		t.Errorf("GetCheckpoint (-want +got):\n%s", diff)
	}
	for i := range 11 {
		pr, err := p.ProveInclusion(ctx, &ProveInclusionRequest{EventID: fmt.Sprintf("e%d", i)})
		if err != nil {
			t.Fatalf("ProveInclusion(e%d): %v", i, err)
		}
		if err := VerifyInclusion(pub, pr); err != nil {
			t.Errorf("VerifyInclusion(e%d): %v", i, err)
		}
	}
	if _, err := p.ProveInclusion(ctx, &ProveInclusionRequest{EventID: "nope"}); !errors.Is(err, ErrUnknownEvent) || !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("ProveInclusion(unknown) = %v, want ErrUnknownEvent and sdk.ErrNotFound", err)
	}
}

func TestVerifyInclusionRejects(t *testing.T) {
	ctx := context.Background()
	pub := testKey.Public().(ed25519.PublicKey)
	sink := &memoryProver{}
	fillLog(t, sink, 6)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	tests := []struct {
		name   string
		change func(p *ProveInclusionResponse)
		msg    string
	}{
		{"event edited", func(p *ProveInclusionResponse) { p.Event.Actor = "mallory" }, "the event was changed"},
		{"event re-hashed", func(p *ProveInclusionResponse) {
			p.Event.Actor = "mallory"
			p.Event.Hash = ChainHash(p.Event.PrevHash, p.Event)
		}, "is not in the tree"},
		{"proof node changed", func(p *ProveInclusionResponse) { p.Proof[0][0] ^= 1 }, "is not in the tree"},
		{"proof shortened", func(p *ProveInclusionResponse) { p.Proof = p.Proof[1:] }, "is not in the tree"},
		{"wrong leaf", func(p *ProveInclusionResponse) { p.LeafIndex++ }, "the proof is for leaf"},
		{"checkpoint re-signed", func(p *ProveInclusionResponse) { p.Checkpoint.Sign(other) }, "not signed by key"},
		{"root changed", func(p *ProveInclusionResponse) { p.Checkpoint.RootHash[0] ^= 1 }, "not signed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sink.ProveInclusion(ctx, &ProveInclusionRequest{EventID: "e2"})
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(pub, p); err != nil {
				t.Fatalf("the untouched proof: %v", err)
			}
			tt.change(p)
			err = VerifyInclusion(pub, p)
			if !errors.Is(err, sdk.ErrUnauthenticated) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Errorf("VerifyInclusion = %v, want sdk.ErrUnauthenticated containing %q", err, tt.msg)
			}
		})
	}
	if err := VerifyInclusion(pub, nil); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("VerifyInclusion(nil) = %v", err)
	}
}

func TestNoProofs(t *testing.T) {
	// A sink without Prover: the server answers Unimplemented and the
	// client's error matches ErrNoProofs (and sdk.ErrNotSupported).
	ctx := context.Background()
	s := serveSink(t, &memorySink{})
	p := s.(Prover)
	_, err := p.GetCheckpoint(ctx, &GetCheckpointRequest{})
	if !errors.Is(err, ErrNoProofs) || !errors.Is(err, sdk.ErrNotSupported) || !strings.Contains(err.Error(), "implement audit.Prover") {
		t.Errorf("GetCheckpoint on a sink without Prover = %v, want ErrNoProofs", err)
	}
	_, err = p.ProveInclusion(ctx, &ProveInclusionRequest{EventID: "x"})
	if !errors.Is(err, ErrNoProofs) {
		t.Errorf("ProveInclusion on a sink without Prover = %v, want ErrNoProofs", err)
	}
	// A plugin built before Prover existed answers a bare Unimplemented.
	if err := noProofs(fmt.Errorf("rpc: %w", sdk.ErrNotSupported)); !errors.Is(err, ErrNoProofs) {
		t.Errorf("noProofs(bare Unimplemented) = %v, want ErrNoProofs", err)
	}
	if err := noProofs(sdk.ErrNotFound); errors.Is(err, ErrNoProofs) {
		t.Errorf("noProofs(NotFound) = %v, want it unchanged", err)
	}
}

func TestCapabilities(t *testing.T) {
	k := kindAudit(t)
	if got := k.Capabilities(&memoryProver{}); !cmp.Equal(got, []string{CapabilityProofs}) {
		t.Errorf("Capabilities(prover) = %v", got)
	}
	if got := k.Capabilities(&memorySink{}); len(got) != 0 {
		t.Errorf("Capabilities(sink) = %v, want none", got)
	}
}
