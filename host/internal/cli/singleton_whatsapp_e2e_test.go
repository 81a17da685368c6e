package cli

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestWhatsAppMovesWithoutPairingAgain: the whatsapp plugin (wafake) is a
// singleton on two hosts sharing one PostgreSQL. Its session is paired on
// the host that runs it, which sends a receipt; that host is SIGKILLed.
// The other host takes the plugin over and, on a data directory that never
// saw the session, its session is connected with the same phone without
// being paired again (its device state came from the durable store), and
// it sends the next receipt, once.
func TestWhatsAppMovesWithoutPairingAgain(t *testing.T) {
	c := startHostCluster(t, `server {
  heartbeat_interval = "1s"
}
notifications {
  plugin = "whatsapp"
}
`, func(_ string, d *testenv.PluginDir) {
		d.AddBundled("payment-manual")
		d.AddBundled("whatsapp", "wafake")
	}, "host-a")
	runsOn := func(id, want string) {
		t.Helper()
		sdktest.WaitFor(t, 30*time.Second, "whatsapp runs on "+want+", as "+id+" says", func() bool {
			st, on := c.singletonState(id, "whatsapp")
			return st == "running" && on == want
		})
	}
	runsOn("host-a", "host-a")
	c.start("host-b")
	if st, on := c.singletonState("host-b", "whatsapp"); st != "elsewhere" || on != "host-a" {
		t.Fatalf("host-b's whatsapp: %s on %q; want elsewhere, on host-a", st, on)
	}

	a := &routerHost{host: c.api("host-a")}
	a.tok = a.adminToken()
	paired := a.pairWhatsApp("main", "")
	if paired.Phone == "" {
		t.Fatalf("session main paired on host-a without a phone: %+v", paired)
	}
	first := a.payNewInvoice(a.tok, "payment-manual")
	if code, raw := a.api(http.MethodPost, "/plugins/payment-manual/payments/"+first.Payment.ID+"/confirm", a.tok, nil, nil); code != http.StatusOK {
		t.Fatalf("confirm on host-a: %d %s", code, raw)
	}
	sentOnA := waitReceiptIn(t, c.hosts["host-a"].dataDir, first.Invoice.Number)
	t.Logf("host-a sent %q", sentOnA.Text)

	c.kill("host-a")
	killed := time.Now()
	runsOn("host-b", "host-b")
	t.Logf("whatsapp ran on host-b %s after host-a was killed", time.Since(killed).Round(time.Millisecond))

	// host-b never pairs: the session is connected from the device state
	// host-a left in the durable store.
	b := &routerHost{host: c.api("host-b"), tok: a.tok}
	var s waSession
	sdktest.WaitFor(t, 30*time.Second, "session main connected on host-b without pairing", func() bool {
		s = b.waSessionState("main")
		return s.Status == "connected"
	})
	if s.Phone != paired.Phone {
		t.Errorf("session main on host-b has phone %q, want host-a's %q", s.Phone, paired.Phone)
	}

	var second store.Invoice
	if code, raw := b.api(http.MethodPost, "/api/v1/invoices", b.tok, map[string]any{"customer_id": first.Invoice.CustomerID, "plan_id": first.Invoice.PlanID}, &second); code != http.StatusCreated {
		t.Fatalf("second invoice on host-b: %d %s", code, raw)
	}
	payAndConfirm(t, b.host, b.tok, second.ID)
	sentOnB := waitReceiptIn(t, c.hosts["host-b"].dataDir, second.Number)
	if sentOnB.To != sentOnA.To {
		t.Errorf("host-b sent to %q, host-a to %q; want the customer's phone both times", sentOnB.To, sentOnA.To)
	}
	// host-a's receipt is not sent again by host-b.
	if again := receiptsFor(waSentIn(t, c.hosts["host-b"].dataDir), first.Invoice.Number); len(again) != 0 {
		t.Errorf("host-b sent host-a's receipt again: %+v", again)
	}
}

// waitReceiptIn waits until the fake WhatsApp of the host with data
// directory dataDir took exactly one payment receipt for invoice number.
func waitReceiptIn(t *testing.T, dataDir, number string) waSent {
	t.Helper()
	var got []waSent
	sdktest.WaitFor(t, 60*time.Second, "the receipt for "+number+" sent", func() bool {
		got = receiptsFor(waSentIn(t, dataDir), number)
		return len(got) > 0
	})
	time.Sleep(time.Second) // a duplicate would follow at once
	if got = receiptsFor(waSentIn(t, dataDir), number); len(got) != 1 {
		t.Fatalf("the receipt for %s was sent %d times, want once: %+v", number, len(got), got)
	}
	return got[0]
}

// receiptsFor is the payment receipts among msgs for invoice number.
func receiptsFor(msgs []waSent, number string) []waSent {
	var out []waSent
	for _, m := range msgs {
		if strings.Contains(m.Text, "received your payment") && strings.Contains(m.Text, number) {
			out = append(out, m)
		}
	}
	return out
}
