package whatsmeow

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"go.mau.fi/whatsmeow/types"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
)

// A session exported from one data directory and imported into an empty
// one is paired there with the same JID and keys, signal sessions and
// prekeys included; the export is stable and Changes moves on writes.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	a := openBackend(t, t.TempDir())
	if st, err := a.Export(ctx, "s1"); err != nil || st != nil {
		t.Fatalf("Export of an unknown session = %q, %v; want nil, nil", st, err)
	}
	d, err := a.OpenDevice(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	before, err := a.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jid := pair(t, d, "6281111111111", 3)
	if e := nextEvent(t, d); e.Type != wa.EventPairSuccess {
		t.Fatalf("event %+v, want pair_success", e)
	}
	store := d.cli.Store
	peer := types.NewJID("6289999999999", types.DefaultUserServer).SignalAddress().String()
	if err := store.Sessions.PutSession(ctx, peer, []byte("signal session with the peer")); err != nil {
		t.Fatal(err)
	}
	if err := store.Identities.PutIdentity(ctx, peer, [32]byte{7}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PreKeys.GetOrGenPreKeys(ctx, 5); err != nil {
		t.Fatal(err)
	}
	after, err := a.Changes(ctx)
	if err != nil || after == before {
		t.Fatalf("Changes = %d (before pairing %d), %v; want it moved", after, before, err)
	}
	noise, identity, regID := *store.NoiseKey.Priv, *store.IdentityKey.Priv, store.RegistrationID
	state, err := a.Export(ctx, "s1")
	if err != nil || state == nil {
		t.Fatalf("Export = %d bytes, %v", len(state), err)
	}
	again, err := a.Export(ctx, "s1")
	if err != nil || !bytes.Equal(again, state) {
		t.Fatalf("a second Export of the same state differs (%v)", err)
	}

	b := openBackend(t, t.TempDir())
	if err := b.Import(ctx, "s1", state); err != nil {
		t.Fatal(err)
	}
	nd, err := b.OpenDevice(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if phone, ok := nd.Paired(); !ok || phone != "6281111111111" {
		t.Fatalf("imported: Paired() = %q, %v; want 6281111111111, true", phone, ok)
	}
	ns := nd.cli.Store
	if *ns.ID != jid || *ns.NoiseKey.Priv != noise || *ns.IdentityKey.Priv != identity || ns.RegistrationID != regID {
		t.Fatalf("imported device %v has other keys than %v", ns.ID, jid)
	}
	if ns.Account == nil || !bytes.Equal(ns.Account.AccountSignatureKey, store.Account.AccountSignatureKey) {
		t.Error("the imported device lost its adv identity")
	}
	if sess, err := ns.Sessions.GetSession(ctx, peer); err != nil || string(sess) != "signal session with the peer" {
		t.Errorf("imported signal session = %q, %v", sess, err)
	}
	if ok, err := ns.Identities.IsTrustedIdentity(ctx, peer, [32]byte{7}); err != nil || !ok {
		t.Errorf("imported identity of the peer trusted = %v, %v", ok, err)
	}
	if n, err := ns.PreKeys.UploadedPreKeyCount(ctx); err != nil {
		t.Error(err)
	} else if k, err := ns.PreKeys.GetPreKey(ctx, 1); err != nil || k == nil {
		t.Errorf("imported prekey 1 = %v, %v (uploaded %d)", k, err, n)
	}
	_ = nd.Close()
	// Exported again from the new place it is the same state.
	if moved, err := b.Export(ctx, "s1"); err != nil || !bytes.Equal(moved, state) {
		t.Errorf("the imported session exports other bytes (%v)", err)
	}
	// Importing over an existing copy replaces it; an open device refuses.
	if err := b.Import(ctx, "s1", state); err != nil {
		t.Errorf("importing again: %v", err)
	}
	open := mustDevice(t, b, "s1")
	if err := b.Import(ctx, "s1", state); err == nil {
		t.Error("import into an open device succeeded")
	}
	_ = open.Close()
	if err := b.Import(ctx, "s1", []byte(`{"format":99}`)); err == nil {
		t.Error("a state of another format was imported")
	}
	// Delete removes what Import wrote.
	if err := b.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Export(ctx, "s1"); err != nil || st != nil {
		t.Errorf("after Delete Export = %d bytes, %v; want nil", len(st), err)
	}
}

// BenchmarkExport exports a device with 2,000 signal sessions and
// identities (an ISP's customers after a few months), as the plugin does
// after a change: the time, and the size of the state.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	log, _ := testLogger()
	be, err := Open(ctx, b.TempDir(), log)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	d, err := be.OpenDevice(ctx, "s1")
	if err != nil {
		b.Fatal(err)
	}
	t := &testing.T{}
	pair(t, d, "6281111111111", 3)
	store := d.cli.Store
	session := bytes.Repeat([]byte{0x5a}, 1500) // a signal session record is about 1.5 KB
	for i := range 2000 {
		peer := types.NewJID(fmt.Sprintf("62812%08d", i), types.DefaultUserServer).SignalAddress().String()
		if err := store.Sessions.PutSession(ctx, peer, session); err != nil {
			b.Fatal(err)
		}
		if err := store.Identities.PutIdentity(ctx, peer, [32]byte{byte(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var size int
	for range b.N {
		st, err := be.Export(ctx, "s1")
		if err != nil {
			b.Fatal(err)
		}
		size = len(st)
	}
	b.ReportMetric(float64(size)/1024, "KiB-state")
}
