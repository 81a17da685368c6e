package billing_test

// The daily verification: the key the host first sees is pinned and the
// largest checkpoint size raised; a plugin that answers "sound" about a log
// signed by another key, or smaller than the host saw, is still reported
// as failed (the host checks the answer itself); each result is stored.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// claimingAudit answers every Verify "sound" with the checkpoint it is
// given, as a plugin that lies (or a log swapped under it) would.
type claimingAudit struct {
	testutil.AuditLog
	mu sync.Mutex
	cp *audit.Checkpoint
}

func (a *claimingAudit) set(cp *audit.Checkpoint) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cp = cp
}

func (a *claimingAudit) Verify(context.Context, *audit.VerifyRequest) (*audit.VerifyResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &audit.VerifyResponse{OK: true, Checked: a.cp.Size, Checkpoint: a.cp, Message: "sound"}, nil
}

// signed is a checkpoint of size n signed by key.
func signed(key ed25519.PrivateKey, n uint64) *audit.Checkpoint {
	cp := &audit.Checkpoint{Origin: "mikrobill-audit", Size: n, RootHash: make([]byte, 32), Time: time.Now().UTC().Truncate(time.Second),
		PublicKey: key.Public().(ed25519.PublicKey)}
	cp.Sign(key)
	return cp
}

func TestVerifyAuditLogHoldsThePluginToWhatTheHostSaw(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	sink := &claimingAudit{}
	sink.set(signed(key, 10))
	svc := billing.New(st, nil, testutil.Plugins{AuditSink: sdktest.Serve(t, sink).Audit()}, billing.Config{}, nil)

	v, err := svc.VerifyAuditLog(ctx)
	if err != nil || !v.OK || v.CheckpointSize != 10 {
		t.Fatalf("first verification: %+v, %v", v, err)
	}
	sink.set(signed(key, 25))
	if v, err := svc.VerifyAuditLog(ctx); err != nil || !v.OK {
		t.Fatalf("a grown log: %+v, %v", v, err)
	}
	st0, err := svc.AuditStatus(ctx)
	if err != nil || st0.Trust == nil || st0.Trust.KnownSize != 25 || st0.KeyFingerprint() != audit.KeyFingerprint(key.Public().(ed25519.PublicKey)) {
		t.Fatalf("trust after two verifications: %+v, %v", st0.Trust, err)
	}

	// Smaller than the host saw: a rollback, though the plugin says sound.
	sink.set(signed(key, 12))
	if v, err := svc.VerifyAuditLog(ctx); err != nil || v.OK || v.Reason != string(audit.ReasonRollback) || v.FirstBadSequence != 13 {
		t.Errorf("a rolled-back log: %+v, %v", v, err)
	}
	// Signed by another key: re-signed.
	sink.set(signed(other, 30))
	if v, err := svc.VerifyAuditLog(ctx); err != nil || v.OK || v.Reason != string(audit.ReasonSignature) {
		t.Errorf("a re-signed log: %+v, %v", v, err)
	}
	st1, _ := svc.AuditStatus(ctx)
	if !st1.Failed() || st1.Trust.KnownSize != 25 {
		t.Errorf("after the failures: failed %v, known size %d (a bad checkpoint must not raise it)", st1.Failed(), st1.Trust.KnownSize)
	}
}

func TestVerifyAuditLogWithoutPlugin(t *testing.T) {
	svc := billing.New(storetest.SQLite(t), nil, testutil.Plugins{}, billing.Config{}, nil)
	if _, err := svc.VerifyAuditLog(context.Background()); err != billing.ErrNoAuditPlugin {
		t.Errorf("without an audit plugin: %v", err)
	}
}
