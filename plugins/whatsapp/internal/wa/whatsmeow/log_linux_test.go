//go:build linux

package whatsmeow

import (
	"context"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/mikrobill/mikrobill/sdk/sdktest"
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
	out := sdktest.CaptureStdout(t, func() {
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
	})
	if out != "" {
		t.Errorf("%d bytes on stdout:\n%s", len(out), out)
	}
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
