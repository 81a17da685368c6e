package fake

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa"
)

// next waits for the device's next event of type want, skipping others.
func next(t *testing.T, d wa.Device, want wa.EventType) wa.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-d.Events():
			if e.Type == want {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event", want)
		}
	}
}

// The file protocol of the wafake build: pairing by itself, paired devices
// and sent ids surviving a restart, numbers without WhatsApp from a file.
func TestFileProtocol(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := b.Open(ctx, "main")
	if err := d.PairQR(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	next(t, d, wa.EventQR)
	if e := next(t, d, wa.EventPairSuccess); e.Phone == "" {
		t.Error("paired without a phone")
	}
	next(t, d, wa.EventConnected)
	if err := os.WriteFile(filepath.Join(dir, NotOnWhatsAppFile), []byte("+6281299999999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := d.OnWhatsApp(ctx, []string{"6281299999999", "6281234567890"})
	if err != nil || got["6281299999999"] || !got["6281234567890"] {
		t.Errorf("OnWhatsApp = %v, %v", got, err)
	}
	m := wa.Message{ID: "3EB0AA", To: "6281234567890", Text: "hi", Attachments: []wa.Attachment{{Filename: "r.pdf", MIMEType: "application/pdf", Data: []byte("%PDF")}}}
	for range 2 {
		if _, err := d.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if e := next(t, d, wa.EventReceipt); e.Receipt != wa.ReceiptDelivered || e.MessageIDs[0] != "3EB0AA" {
		t.Errorf("receipt = %+v", e)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart: still paired, and the id already sent is not written again.
	b2, err := NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	d2, _ := b2.Open(ctx, "main")
	if _, ok := d2.Paired(); !ok {
		t.Fatal("not paired after a restart")
	}
	if err := d2.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	next(t, d2, wa.EventConnected)
	if _, err := d2.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	sent := b2.Sent()
	if len(sent) != 1 || sent[0].Attachments[0] != (SentAttachment{Name: "r.pdf", MIME: "application/pdf", Size: 4}) {
		t.Errorf("sent = %+v, want the message once", sent)
	}
	if b2.SendAttempts() != 1 {
		t.Errorf("attempts in the second run = %d", b2.SendAttempts())
	}
}

// A paired session exported from one data directory and imported into an
// empty one is paired there with the same phone, and survives a restart
// of the new one; Changes moves with pairing and deletion.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, err := NewInDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if st, err := a.Export(ctx, "main"); err != nil || st != nil {
		t.Fatalf("Export of an unpaired session = %q, %v; want nil", st, err)
	}
	c0, _ := a.Changes(ctx)
	a.Pair("main", "6281100000007")
	if c1, _ := a.Changes(ctx); c1 == c0 {
		t.Error("Changes did not move when a session was paired")
	}
	state, err := a.Export(ctx, "main")
	if err != nil || state == nil {
		t.Fatalf("Export = %q, %v", state, err)
	}
	dir := t.TempDir()
	b, err := NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Import(ctx, "main", state); err != nil {
		t.Fatal(err)
	}
	if err := b.Import(ctx, "main", []byte("{}")); err == nil {
		t.Error("an empty state was imported")
	}
	b.Close()
	b, err = NewInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	d, _ := b.Open(ctx, "main")
	if phone, ok := d.Paired(); !ok || phone != "6281100000007" {
		t.Fatalf("imported session: Paired() = %q, %v", phone, ok)
	}
	if err := b.Import(ctx, "main", state); err == nil {
		t.Error("import into an open device succeeded")
	}
	if err := b.Delete(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Export(ctx, "main"); st != nil {
		t.Errorf("after Delete Export = %q", st)
	}
}
