package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// killingPlugins hands billing the real plugins, except that the payment
// gateway's next GetPayment, once armed, is made while the host's store is
// held (blockStore), so that the plugin, serving the call, waits on its
// StoreGet of the payment; then the plugin's process is SIGKILLed, in the
// middle of the confirm call, after its HandleWebhook answered (and wrote
// its replay record). The events its HandleWebhook returns are marked
// unconfirmed, as a plugin that only parses notifications reports them,
// so that the host confirms them with GetPayment (an event the plugin
// confirmed itself is credited without that call).
type killingPlugins struct {
	billing.Plugins
	mgr    *plugins.Manager
	st     *store.Store
	armed  atomic.Bool
	killed atomic.Int64 // the pid killed
}

func (k *killingPlugins) Payment(name string) (payment.Gateway, error) {
	gw, err := k.Plugins.Payment(name)
	if err != nil {
		return nil, err
	}
	return &killingGateway{Gateway: gw, k: k, name: name}, nil
}

type killingGateway struct {
	payment.Gateway
	k    *killingPlugins
	name string
}

func (g *killingGateway) HandleWebhook(ctx context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	resp, err := g.Gateway.HandleWebhook(ctx, req)
	if err == nil && resp.Event != nil {
		resp.Event.Confirmed = false
	}
	return resp, err
}

func (g *killingGateway) GetPayment(ctx context.Context, req *payment.GetPaymentRequest) (*payment.GetPaymentResponse, error) {
	if !g.k.armed.CompareAndSwap(true, false) {
		return g.Gateway.GetPayment(ctx, req)
	}
	pl, ok := g.k.mgr.Plugin(g.name)
	if !ok {
		return nil, fmt.Errorf("no plugin %s to kill", g.name)
	}
	pid := pl.Status().PID
	waiting, release, err := blockStore(ctx, g.k.st)
	if err != nil {
		return nil, err
	}
	type answer struct {
		resp *payment.GetPaymentResponse
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := g.Gateway.GetPayment(ctx, req)
		done <- answer{resp, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !waiting() {
		if time.Now().After(deadline) {
			release()
			return nil, fmt.Errorf("plugin %s did not reach the host's store within 30s of GetPayment", g.name)
		}
		time.Sleep(time.Millisecond)
	}
	kerr := syscall.Kill(pid, syscall.SIGKILL)
	if kerr == nil {
		kerr = waitDead(pid)
	}
	release()
	if kerr != nil {
		return nil, fmt.Errorf("kill plugin %s (pid %d): %w", g.name, pid, kerr)
	}
	g.k.killed.Store(int64(pid))
	a := <-done
	return a.resp, a.err
}

// blockStore holds the store so that the next query on it waits: on
// SQLite every connection of its pool is taken (database/sql counts the
// wait at once); on PostgreSQL plugin_records is locked (pg_stat_activity
// shows the wait). waiting reports whether a query waits now.
func blockStore(ctx context.Context, st *store.Store) (waiting func() bool, release func(), err error) {
	if st.Dialect() == store.Postgres {
		conn, err := st.Pool().Acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		tx, err := conn.Begin(ctx)
		if err == nil {
			_, err = tx.Exec(ctx, "LOCK TABLE plugin_records IN ACCESS EXCLUSIVE MODE")
		}
		if err != nil {
			conn.Release()
			return nil, nil, err
		}
		var mine int
		_ = tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&mine)
		waiting = func() bool {
			var n int
			err := st.Pool().QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> $1
				AND wait_event_type = 'Lock' AND query LIKE '%plugin_records%'`, mine).Scan(&n)
			return err == nil && n > 0
		}
		return waiting, func() { _ = tx.Rollback(ctx); conn.Release() }, nil
	}
	db, _, err := st.SQLDB()
	if err != nil {
		return nil, nil, err
	}
	var held []*sql.Conn
	for range db.Stats().MaxOpenConnections {
		c, err := db.Conn(ctx)
		if err != nil {
			for _, c := range held {
				c.Close()
			}
			return nil, nil, err
		}
		held = append(held, c)
	}
	before := db.Stats().WaitCount
	waiting = func() bool { return db.Stats().WaitCount > before }
	return waiting, func() {
		for _, c := range held {
			c.Close()
		}
	}, nil
}

// waitDead waits until a killed process has stopped running (gone, or a
// zombie its parent has not reaped yet): a signal is delivered
// asynchronously.
func waitDead(pid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil // gone
		}
		// pid (comm) state ...: the state follows the last ')'.
		if i := bytes.LastIndexByte(raw, ')'); i >= 0 && i+2 < len(raw) && (raw[i+2] == 'Z' || raw[i+2] == 'X') {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("pid %d still runs 10s after SIGKILL", pid)
}

// TestManualWebhookSurvivesAPluginKilledDuringConfirm (issue point 1), with
// the real payment-manual plugin process and the host's store (both
// backends): a signed confirmation is handled by the plugin, which is then
// killed while it serves the host's confirming GetPayment. The webhook is not
// answered 2xx; the supervisor restarts the plugin, and the operator's
// tool, resending the same signed confirmation, gets a 2xx and the invoice
// is paid, once. Before the Duplicate contract the resend was answered
// 200 "already handled" and the invoice stayed unpaid.
func TestManualWebhookSurvivesAPluginKilledDuringConfirm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const secret = "confirm-secret-0123456789"
		d := testenv.NewPluginDir(t)
		d.AddBundled("payment-manual")
		mgr := startPlugins(t, st, d.Dir, json.RawMessage(`{"confirm_secret":"`+secret+`"}`), func(cfg *config.Config) {
			cfg.Plugins.HealthInterval = time.Hour // no health probe reads the store meanwhile
		})
		plugs := &killingPlugins{Plugins: billing.FromManager(mgr), mgr: mgr, st: st}
		bill, inv := newTestBilling(t, st, plugs)
		start, err := bill.StartPayment(ctx, inv.ID, "payment-manual", "", "user:test")
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(New(Deps{Config: config.DefaultConfig(), Metrics: metrics.New(), DB: st, Billing: bill}).Handler())
		t.Cleanup(srv.Close)

		body := fmt.Appendf(nil, `{"event_id":"conf-1","payment_id":%q,"amount":%d,"currency":"IDR","confirmed_by":"cashier"}`, start.Payment.ID, inv.Amount)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		post := func() (int, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/payment-manual", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Mikrobill-Signature", sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(raw)
		}
		credits := func() (string, int) { return invoiceCredits(t, st, inv.ID) }

		plugs.armed.Store(true)
		if code, raw := post(); code != http.StatusServiceUnavailable {
			t.Fatalf("the confirmation whose confirm call lost the plugin was answered %d %s; want 503, so the tool sends it again", code, raw)
		}
		if plugs.killed.Load() == 0 {
			t.Fatal("the plugin was not killed: the test did not reach GetPayment")
		}
		if status, n := credits(); status != store.InvoiceUnpaid || n != 0 {
			t.Fatalf("after the kill: invoice %s with %d credits, want unpaid", status, n)
		}

		// The supervisor starts the plugin again.
		pl, _ := mgr.Plugin("payment-manual")
		deadline := time.Now().Add(60 * time.Second)
		for s := pl.Status(); s.State != plugins.StateRunning || int64(s.PID) == plugs.killed.Load(); s = pl.Status() {
			if time.Now().After(deadline) {
				t.Fatalf("payment-manual was not running again within 60s: %+v", s)
			}
			time.Sleep(50 * time.Millisecond)
		}

		code, raw := post()
		if code != http.StatusOK {
			t.Fatalf("the resent confirmation: %d %s; want 200", code, raw)
		}
		if status, n := credits(); status != store.InvoicePaid || n != 1 {
			t.Errorf("after the resend: invoice %s with %d credits, want paid once", status, n)
		}
		if code, raw := post(); code != http.StatusOK {
			t.Errorf("once more: %d %s; want 200", code, raw)
		}
		if _, n := credits(); n != 1 {
			t.Errorf("%d credits, want 1", n)
		}
	})
}

// manualInvoice creates a customer, a plan and an unpaid invoice.
func manualInvoice(t *testing.T, st *store.Store, cipher *store.Cipher, bill *billing.Service) *store.Invoice {
	t.Helper()
	ctx := context.Background()
	q := st.Q()
	loc := &store.Location{Name: "main", Plugin: "mikrotik"}
	if err := q.CreateLocation(ctx, loc); err != nil {
		t.Fatal(err)
	}
	plan := &store.Plan{Name: "Home 10M", Kind: store.PlanPPPoE, RateLimit: "5M/10M", SharedUsers: 1, Validity: 30 * 24 * time.Hour,
		Price: 150000, Currency: "IDR", Active: true}
	if err := q.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	cust := &store.Customer{Name: "Budi", Phone: "+6281234567890", RouterUsername: "budi", RouterPassword: "rahasia-123", LocationID: loc.ID}
	if err := q.CreateCustomer(ctx, cust, cipher); err != nil {
		t.Fatal(err)
	}
	if _, err := q.SeedTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	inv, err := bill.CreateInvoice(ctx, cust.ID, plan.ID, 0, 24*time.Hour, "user:test")
	if err != nil {
		t.Fatal(err)
	}
	return inv
}
