package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/notify"
)

// Attachments are kept until the message is done, and done messages are
// pruned after the retention; queued ones never are.
func TestStoreAttachmentsAndPrune(t *testing.T) {
	ctx := context.Background()
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	pdf := notify.Attachment{Filename: "receipt.pdf", MIMEType: "application/pdf", Data: []byte("%PDF-1.7")}
	a, _, err := st.enqueue(ctx, &message{IdempotencyKey: "a", To: "6281234567890", Text: "a", Attachments: []notify.Attachment{pdf}})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := st.enqueue(ctx, &message{IdempotencyKey: "b", To: "6281234567890", Text: "b"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := st.lookup(ctx, a.ID, "")
	if err := st.loadAttachments(ctx, got); err != nil || len(got.Attachments) != 1 || string(got.Attachments[0].Data) != "%PDF-1.7" {
		t.Fatalf("attachments = %+v, %v", got.Attachments, err)
	}
	if len(a.ID) != 36 || a.ID[:4] != "3EB0" {
		t.Errorf("message id %q is not 3EB0 and 32 hex digits", a.ID)
	}
	if err := st.markSent(ctx, a.ID, "main", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.loadAttachments(ctx, got); err != nil || len(got.Attachments) != 0 {
		t.Errorf("attachments kept after the send: %d, %v", len(got.Attachments), err)
	}
	n, err := st.prune(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("prune = %d, %v; want the sent message only", n, err)
	}
	if _, err := st.lookup(ctx, "", "a"); err == nil {
		t.Error("the pruned message is still there")
	}
	if m, err := st.lookup(ctx, b.ID, ""); err != nil || m.Status != notify.DeliveryStatusQueued {
		t.Errorf("the queued message = %+v, %v", m, err)
	}
}

// The queue holds customers' numbers and messages: its file is private,
// also when an older run left it readable.
func TestStoreFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, QueueFile)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o, want 600", QueueFile, mode)
	}
}
