//go:build linux

package whatsmeow

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.mau.fi/whatsmeow/types/events"
)

// Stdout belongs to the go-plugin handshake: with file descriptor 1 taken
// over, opening the store, pairing, logging out and whatsmeow's own records
// at every level write nothing there; the records reach the plugin's
// logger, except debug ones (protocol nodes and QR codes), which are
// dropped.
//
// Not parallel: it takes the process's stdout for a moment.
func TestNoStdout(t *testing.T) {
	log, logs := testLogger()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(1)
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pr)
		read <- string(b)
	}()
	if err := syscall.Dup3(int(pw.Fd()), 1, 0); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			_ = syscall.Dup3(saved, 1, 0)
			_ = syscall.Close(saved)
			_ = pw.Close()
		}
	}
	func() {
		defer restore()
		b, err := Open(context.Background(), t.TempDir(), log)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		d, err := b.OpenDevice(context.Background(), "s1")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.PairQR(context.Background()); err != nil {
			t.Fatal(err)
		}
		d.handle(d.cli, &events.QR{Codes: []string{"2@qr-secret"}})
		pair(t, d, "6281111111111", 9)
		if err := d.Logout(context.Background()); err != nil {
			t.Fatal(err)
		}
		w := newLogger(log.Named("whatsmeow")).Sub("Client")
		w.Errorf("error %d", 1)
		w.Warnf("warn %d", 2)
		w.Infof("info %d", 3)
		w.Debugf("Emitting QR code %s", "2@debug-secret")
	}()
	if out := <-read; out != "" {
		t.Errorf("%d bytes on stdout:\n%s", len(out), out)
	}
	_ = pr.Close()
	got := logs.String()
	for _, want := range []string{`"@module":"whatsmeow.Client"`, "error 1", "warn 2", "info 3", "Linked devices"} {
		if !strings.Contains(got, want) {
			t.Errorf("the logs lack %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{"debug-secret", "qr-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("the logs show %q:\n%s", secret, got)
		}
	}
}
