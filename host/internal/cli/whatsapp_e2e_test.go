package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// The WhatsApp plugin through the host: the real plugin process
// (plugins/whatsapp), built with its fake WhatsApp (-tags wafake, package
// internal/wa/fake), which pairs by itself 300 ms after a pairing starts and
// writes every message WhatsApp took to wafake-sent.jsonl in the plugin's
// data directory, once per message id. Beside it, the real mikrotik plugin
// on a fake router and payment-manual, as in router_e2e_test.go.

// waSent is one line of wafake-sent.jsonl.
type waSent struct {
	ID          string `json:"id"`
	Session     string `json:"session"`
	To          string `json:"to"`
	Text        string `json:"text"`
	Attachments []struct {
		Name string `json:"name"`
		MIME string `json:"mime"`
		Size int    `json:"size"`
	} `json:"attachments"`
}

// startWhatsAppHost is a router host with the whatsapp plugin (wafake), on
// the embedded SQLite or, with env DATABASE_URL, on PostgreSQL.
func startWhatsAppHost(t *testing.T, env []string, more ...string) *routerHost {
	t.Helper()
	return startRouterHostWith(t, routerHostOptions{
		add: func(d *testenv.PluginDir) { d.AddBundled("whatsapp", "wafake") },
		env: env,
	}, more...)
}

// eachWhatsAppDatabase runs fn on the embedded SQLite and, when
// MIKROBILL_TEST_POSTGRES_URL is set, on a PostgreSQL database of its own,
// side by side: each has its own host, ports, data directory and database,
// and most of their time is spent waiting (message delays, retries).
func eachWhatsAppDatabase(t *testing.T, fn func(t *testing.T, env []string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		if os.Getenv(storetest.EnvPostgres) == "" {
			t.Skipf("%s is not set", storetest.EnvPostgres)
		}
		fn(t, []string{"DATABASE_URL=" + storetest.PostgresURL(t)})
	})
}

// waSentMessages reads what the fake WhatsApp took.
func (rh *routerHost) waSentMessages() []waSent {
	rh.t.Helper()
	return waSentIn(rh.t, rh.dataDir)
}

// waSentIn reads what the fake WhatsApp of the host with data directory
// dataDir took.
func waSentIn(t *testing.T, dataDir string) []waSent {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, "plugins", "whatsapp", "wafake-sent.jsonl"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []waSent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m waSent
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("wafake-sent.jsonl: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

// waSentContaining returns the messages whose text has every fragment.
func (rh *routerHost) waSentContaining(fragments ...string) []waSent {
	var out []waSent
	for _, m := range rh.waSentMessages() {
		all := true
		for _, f := range fragments {
			all = all && strings.Contains(m.Text, f)
		}
		if all {
			out = append(out, m)
		}
	}
	return out
}

// waitOneSent waits until exactly one message has every fragment, and
// fails when one is there twice.
func (rh *routerHost) waitOneSent(what string, fragments ...string) waSent {
	rh.t.Helper()
	var got []waSent
	sdktest.WaitFor(rh.t, 60*time.Second, what+" sent on whatsapp", func() bool {
		got = rh.waSentContaining(fragments...)
		return len(got) > 0
	})
	// A duplicate would follow the first at once: the host's job and the
	// plugin's queue have settled when the other checks are done, and
	// assertSentOnce looks again.
	if len(got) != 1 {
		rh.t.Fatalf("%s sent %d times, want once: %+v", what, len(got), got)
	}
	return got[0]
}

// assertSentOnce checks, at the end, that no message went twice.
func (rh *routerHost) assertSentOnce() {
	rh.t.Helper()
	seen := map[string]int{}
	for _, m := range rh.waSentMessages() {
		seen[m.To+"\x00"+m.Text]++
	}
	for k, n := range seen {
		if n > 1 {
			to, text, _ := strings.Cut(k, "\x00")
			rh.t.Errorf("sent %d times to %s: %q", n, to, text)
		}
	}
}

// waSession is a messaging session as /api/v1/messaging answers it.
type waSession struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Phone   string `json:"phone"`
	Error   string `json:"error"`
	Pairing *struct {
		QRCode      string `json:"qr_code"`
		QRPNG       []byte `json:"qr_png"`
		PairingCode string `json:"pairing_code"`
	} `json:"pairing"`
}

// waSessionState reads a session.
func (rh *routerHost) waSessionState(id string) waSession {
	rh.t.Helper()
	var out struct {
		Session waSession `json:"session"`
	}
	if code, raw := rh.api(http.MethodGet, "/api/v1/messaging/whatsapp/sessions/"+id, rh.tok, nil, &out); code != http.StatusOK {
		rh.t.Fatalf("GET session %s: %d %s", id, code, raw)
	}
	return out.Session
}

// pairWhatsApp pairs a session through the API (by QR code, or by pairing
// code for phone), checks the code it answers and waits until the session
// is connected.
func (rh *routerHost) pairWhatsApp(id, phone string) waSession {
	rh.t.Helper()
	var body any
	if phone != "" {
		body = map[string]any{"phone": phone}
	}
	var started struct {
		Session waSession `json:"session"`
	}
	sdktest.WaitFor(rh.t, 30*time.Second, "the whatsapp plugin answers", func() bool {
		code, _ := rh.api(http.MethodPost, "/api/v1/messaging/whatsapp/sessions/"+id+"/pair", rh.tok, body, &started)
		return code == http.StatusOK
	})
	p := started.Session.Pairing
	switch {
	case started.Session.Status == "connected":
		// Paired already (the fake pairs 300 ms after the code shows).
	case p == nil:
		rh.t.Fatalf("pairing session %s answered %+v, without codes", id, started.Session)
	case phone == "" && (!strings.HasPrefix(p.QRCode, "2@") || len(p.QRPNG) == 0):
		rh.t.Errorf("QR pairing answered code %q and a %d-byte image; want a code and its PNG", p.QRCode, len(p.QRPNG))
	case phone != "" && len(p.PairingCode) == 0:
		rh.t.Errorf("phone pairing answered %+v, without a pairing code", *p)
	}
	var s waSession
	sdktest.WaitFor(rh.t, 30*time.Second, "session "+id+" connected", func() bool {
		s = rh.waSessionState(id)
		return s.Status == "connected"
	})
	return s
}

// uiPage fetches an admin UI page with the admin's token.
func (rh *routerHost) uiPage(path string) string {
	rh.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+rh.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+rh.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rh.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		rh.t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
	}
	return string(body)
}

// retryPeriodic runs a periodic job again now (as an operator's retry on
// the jobs page does): the reminder scan runs hourly.
func (rh *routerHost) retryPeriodic(kind string) {
	rh.t.Helper()
	var jobs struct {
		Items []struct {
			ID    int64  `json:"id"`
			State string `json:"state"`
		} `json:"items"`
	}
	sdktest.WaitFor(rh.t, 30*time.Second, kind+" ran at start", func() bool {
		rh.api(http.MethodGet, "/api/v1/jobs?kind="+kind+"&state=completed", rh.tok, nil, &jobs)
		return len(jobs.Items) > 0
	})
	if code, raw := rh.api(http.MethodPost, fmt.Sprintf("/api/v1/jobs/%d/retry", jobs.Items[0].ID), rh.tok, nil, nil); code != http.StatusOK {
		rh.t.Fatalf("retry %s: %d %s", kind, code, raw)
	}
}

// TestWhatsAppNotificationsThroughTheHost: a session paired from the API
// (and shown by the Messaging page); a paid invoice sends the payment
// confirmation with the receipt PDF, a reminder its renewal invoice's pay
// link, an expiry its notice: each once, to the customer's number in
// WhatsApp's form. Logged out, the session says so on the page; paired
// again by phone number, it answers a pairing code. On the embedded SQLite
// and on PostgreSQL.
func TestWhatsAppNotificationsThroughTheHost(t *testing.T) {
	eachWhatsAppDatabase(t, func(t *testing.T, env []string) {
		rh := startWhatsAppHost(t, env)
		s := rh.pairWhatsApp("billing", "")
		if s.Phone == "" {
			t.Errorf("connected session without its phone: %+v", s)
		}
		if page := rh.uiPage("/messaging"); !strings.Contains(page, `data-session="billing" data-status="connected"`) {
			t.Errorf("the Messaging page does not show session billing connected:\n%s", page)
		}
		// The plugin's metrics reach the host's /metrics.
		_, metrics := rh.get("/metrics")
		for _, want := range []string{`whatsapp_sessions{plugin="whatsapp",state="connected"} 1`, `whatsapp_queue_depth{plugin="whatsapp"} 0`} {
			if !strings.Contains(string(metrics), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}

		// Budi's hotspot plan lasts 5 seconds: paid, then expired.
		short := rh.create("/api/v1/plans", map[string]any{"name": "Hotspot 5 Detik", "kind": "hotspot", "rate_limit": "2M/4M", "shared_users": 1,
			"validity_seconds": 5, "price": 5000, "currency": "IDR", "active": true, "isolation_profile": "isolir"})
		budi := rh.create("/api/v1/customers", map[string]any{"name": "Budi", "phone": "+6281234567890", "router_username": "budi",
			"router_password": "rahasia-123", "location_id": rh.loc})
		rh.payByWebhook(budi, short, "evt-wa-budi")
		paid := rh.waitOneSent("budi's payment confirmation", "Hello Budi, we have received your payment")
		if paid.To != "6281234567890" || paid.Session != "billing" {
			t.Errorf("payment confirmation to %q from session %q; want 6281234567890 from billing", paid.To, paid.Session)
		}
		if len(paid.Attachments) != 1 || paid.Attachments[0].MIME != "application/pdf" || !strings.HasSuffix(paid.Attachments[0].Name, ".pdf") ||
			paid.Attachments[0].Size < 500 {
			t.Errorf("payment confirmation attachments %+v; want the receipt PDF", paid.Attachments)
		}
		expired := rh.waitOneSent("budi's expiry notice", "Hello Budi, your Hotspot 5 Detik package ended")
		if expired.To != "6281234567890" || !strings.Contains(expired.Text, "/portal\n") {
			t.Errorf("expiry notice %+v; want it to 6281234567890 with the portal's link to renew", expired)
		}

		// Sari's month ends within a day: her reminder links to the
		// renewal invoice.
		month := rh.create("/api/v1/plans", map[string]any{"name": "Bulanan", "kind": "hotspot", "rate_limit": "5M/10M", "shared_users": 1,
			"validity_seconds": 23 * 3600, "price": 150000, "currency": "IDR", "active": true})
		sari := rh.create("/api/v1/customers", map[string]any{"name": "Sari", "phone": "+6285700000002", "router_username": "sari",
			"router_password": "sari-pass-12", "location_id": rh.loc})
		rh.payByWebhook(sari, month, "evt-wa-sari")
		rh.waitOneSent("sari's payment confirmation", "Hello Sari, we have received your payment")
		var renewal struct {
			Number string `json:"number"`
		}
		if code, raw := rh.api(http.MethodPost, "/api/v1/invoices", rh.tok, map[string]any{"customer_id": sari, "plan_id": month}, &renewal); code != http.StatusCreated {
			t.Fatalf("renewal invoice: %d %s", code, raw)
		}
		rh.retryPeriodic("reminder_scan")
		reminder := rh.waitOneSent("sari's reminder", "Hello Sari, your Bulanan package ends on")
		link := "/pay/" + renewal.Number + "?k="
		if reminder.To != "6285700000002" || !strings.Contains(reminder.Text, link) {
			t.Errorf("reminder %+v; want it to 6285700000002 with the renewal invoice's pay link (%s...)", reminder, link)
		}

		// Logged out from the Messaging page: the page says so. Paired
		// again with a phone number: a pairing code, then connected.
		if code, raw := rh.api(http.MethodPost, "/api/v1/messaging/whatsapp/sessions/billing/logout", rh.tok, nil, nil); code != http.StatusNoContent {
			t.Fatalf("logout: %d %s", code, raw)
		}
		if s := rh.waSessionState("billing"); s.Status != "logged_out" {
			t.Errorf("after logout the session is %+v, want logged_out", s)
		}
		page := rh.uiPage("/messaging/whatsapp/sessions/billing")
		for _, want := range []string{`data-status="logged_out"`, `<dd class="session-status">logged out</dd>`, "logged out from the Messaging page"} {
			if !strings.Contains(page, want) {
				t.Errorf("the logged-out session's page lacks %q:\n%s", want, page)
			}
		}
		if s := rh.pairWhatsApp("billing", "+6281299998888"); s.Phone != "+6281299998888" {
			t.Errorf("paired by code: %+v; want the phone the code was asked for", s)
		}
		rh.assertSentOnce()
	})
}

// TestWhatsAppNotifyRetriesWhilePluginDown: while the whatsapp plugin is
// disabled, the payment confirmation's notify job fails and is retried;
// enabled again (its session reconnects without pairing), the message goes,
// once. Then the plugin is SIGKILLed while its queue holds messages
// (message_delay_ms 1500): restarted, it sends every one, none twice.
func TestWhatsAppNotifyRetriesWhilePluginDown(t *testing.T) {
	eachWhatsAppDatabase(t, func(t *testing.T, env []string) {
		rh := startWhatsAppHost(t, env)
		rh.pairWhatsApp("billing", "")
		plan := rh.create("/api/v1/plans", map[string]any{"name": "Bulanan", "kind": "hotspot", "rate_limit": "5M/10M", "shared_users": 1,
			"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true})
		customer := func(name, phone string) int64 {
			return rh.create("/api/v1/customers", map[string]any{"name": name, "phone": phone, "router_username": strings.ToLower(name),
				"router_password": "password-" + name, "location_id": rh.loc})
		}
		budi := customer("Budi", "+6281234567890")

		if code, raw := rh.api(http.MethodPost, "/api/v1/plugins/whatsapp/disable", rh.tok, nil, nil); code != http.StatusOK {
			t.Fatalf("disable: %d %s", code, raw)
		}
		rh.payByWebhook(budi, plan, "evt-down-budi")
		var failing struct {
			Items []struct {
				Attempt   int    `json:"attempt"`
				LastError string `json:"last_error"`
			} `json:"items"`
		}
		sdktest.WaitFor(t, 30*time.Second, "the notify job failing while the plugin is down", func() bool {
			rh.api(http.MethodGet, "/api/v1/jobs?kind=notify&state=retryable", rh.tok, nil, &failing)
			return len(failing.Items) > 0
		})
		if e := failing.Items[0].LastError; !strings.Contains(e, `plugin "whatsapp" is disabled`) {
			t.Errorf("the failing notify job says %q; want the plugin named, and why it is down", e)
		}
		if n := len(rh.waSentMessages()); n != 0 {
			t.Fatalf("%d messages sent while the plugin was disabled", n)
		}
		if code, raw := rh.api(http.MethodPost, "/api/v1/plugins/whatsapp/enable", rh.tok, nil, nil); code != http.StatusOK {
			t.Fatalf("enable: %d %s", code, raw)
		}
		sdktest.WaitFor(t, 30*time.Second, "session billing reconnected without pairing", func() bool {
			return rh.waSessionState("billing").Status == "connected"
		})
		// River's next attempt comes about 16 seconds after the second.
		rh.waitOneSent("the payment confirmation sent after the plugin came back", "Hello Budi, we have received your payment")
		rh.waitOneSent("the invoice's message sent after the plugin came back", "Hello Budi, your invoice")

		// The queue holds messages when the plugin is killed.
		if code, raw := rh.api(http.MethodPut, "/api/v1/plugin-settings/whatsapp", rh.tok, map[string]any{"message_delay_ms": 1500}, nil); code != http.StatusOK {
			t.Fatalf("save message_delay_ms: %d %s", code, raw)
		}
		names := []string{"Citra", "Dewi", "Eko", "Fajar"}
		for i, name := range names {
			c := customer(name, fmt.Sprintf("+62812000000%02d", i+10))
			rh.payByWebhook(c, plan, "evt-kill-"+name)
		}
		first := names[0]
		sdktest.WaitFor(t, 60*time.Second, "the first of the queued messages sent", func() bool {
			return len(rh.waSentContaining("Hello "+first+",")) > 0
		})
		pid := rh.pluginPID("whatsapp")
		if pid == 0 {
			t.Fatal("no pid for the whatsapp plugin")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if sent := len(rh.waSentContaining("we have received your payment")); sent == len(names)+1 {
			t.Log("every message was sent before the kill; the kill tested the restart only")
		}
		for _, name := range names {
			rh.waitOneSent(name+"'s payment confirmation", "Hello "+name+", we have received your payment")
		}
		sdktest.WaitFor(t, 30*time.Second, "the whatsapp plugin restarted", func() bool {
			p := rh.pluginPID("whatsapp")
			return p != 0 && p != pid
		})
		var open struct {
			Items []json.RawMessage `json:"items"`
		}
		sdktest.WaitFor(t, 60*time.Second, "every notify job completed", func() bool {
			rh.api(http.MethodGet, "/api/v1/jobs?kind=notify&state=available&state=running&state=retryable&state=scheduled&state=cancelled&state=discarded", rh.tok, nil, &open)
			return len(open.Items) == 0
		})
		rh.assertSentOnce()
	})
}
