package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// portedAPI is memAPI as a gateway ported from code of its own uses the
// package: it keeps a record per order in the durable store (Env.Host),
// talks to two API hosts, checks notifications against its records, and
// creates slowly.
type portedAPI struct {
	*memAPI
	host          sdk.Host
	snap, status  *gateway.Client
	createDelay   time.Duration
	creates, gets atomic.Int32
}

func (a *portedAPI) Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	a.creates.Add(1)
	if _, err := a.snap.Do(ctx, gateway.Call{Method: http.MethodPost, Path: "/create", Header: http.Header{"X-Notify": {"https://billing.example/hook"}}}); err != nil {
		return nil, err
	}
	time.Sleep(a.createDelay)
	if _, err := a.host.StoreSet(ctx, "mine/"+req.OrderID, []byte(req.Amount.String()), sdk.StoreSetOptions{}); err != nil {
		return nil, err
	}
	return a.memAPI.Create(ctx, req)
}

func (a *portedAPI) Get(ctx context.Context, id string) (*payment.Payment, error) {
	if _, err := a.status.Get(ctx, "/status", nil); err != nil {
		return nil, err
	}
	return a.memAPI.Get(ctx, id)
}

func (a *portedAPI) CheckNotification(ctx context.Context, n *gateway.Notification) error {
	if raw, found, err := a.host.StoreGet(ctx, "mine/"+n.OrderID); err != nil || !found {
		return err
	} else if string(raw) != n.Amount.String() {
		return fmt.Errorf("%w: the payment is %s", payment.ErrAmountMismatch, raw)
	}
	return nil
}

// twoHosts serves the two API hosts: /create on the first, /status on the
// second; a host answers 503 while its failing flag is set, and the first
// records the X-Notify header it got.
type twoHosts struct {
	snap, status       *httptest.Server
	snapDown, statDown atomic.Bool
	notify             atomic.Value
}

func newTwoHosts(t *testing.T) *twoHosts {
	h := &twoHosts{}
	serve := func(down *atomic.Bool) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Notify") != "" {
				h.notify.Store(r.Header.Get("X-Notify"))
			}
			if strings.HasPrefix(r.URL.Path, "/slow") {
				time.Sleep(1500 * time.Millisecond)
			}
			if down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte(`{}`))
		}))
		t.Cleanup(s.Close)
		return s
	}
	h.snap, h.status = serve(&h.snapDown), serve(&h.statDown)
	return h
}

func servePorted(t *testing.T, api *portedAPI, hosts *twoHosts, store *sdktest.FakeHost, await time.Duration) (*sdktest.Harness, payment.Gateway) {
	t.Helper()
	g := gateway.New(gateway.Spec[struct{}]{
		Name: "payment-ported", Version: "0.1.0", Legacy: gateway.Legacy{ReplayPrefix: "old/"}, AwaitCreate: await, ReportFinalStatus: true,
		New: func(_ struct{}, env *gateway.Env) (gateway.API, error) {
			api.host = env.Host
			api.snap = env.Client(gateway.ClientConfig{Name: "Snap", BaseURL: hosts.snap.URL + "/", Timeout: time.Second, Attempts: 1})
			api.status = env.Client(gateway.ClientConfig{Name: "Status", BaseURL: hosts.status.URL, Timeout: time.Second, Attempts: 1})
			env.Detail("status_url", hosts.status.URL)
			return api, nil
		},
	})
	h := sdktest.Serve(t, g, sdktest.WithHost(store))
	if _, err := h.Configure(context.Background(), map[string]any{}); err != nil {
		t.Fatal(err)
	}
	return h, h.Payment()
}

// TestPortedGateway: the parts of the package for gateways ported from
// code of their own (ported.go).
func TestPortedGateway(t *testing.T) {
	ctx := context.Background()
	hosts, store := newTwoHosts(t), sdktest.NewFakeHost()
	api := &portedAPI{memAPI: &memAPI{payments: map[string]*payment.Payment{}}, createDelay: 300 * time.Millisecond}
	h, gw := servePorted(t, api, hosts, store, 5*time.Second)

	t.Run("AwaitCreate: concurrent creates with one key wait for the first", func(t *testing.T) {
		var wg sync.WaitGroup
		ids, errs := make([]string, 4), make([]error, 4)
		for i := range ids {
			wg.Go(func() {
				resp, err := gw.CreatePayment(ctx, create("k-await", idr))
				errs[i] = err
				if err == nil {
					ids[i] = resp.Payment.ID
				}
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Errorf("create %d: %q, %v; want the one payment %q", i, ids[i], errs[i], ids[0])
			}
		}
		if n := api.creates.Load(); n != 1 {
			t.Errorf("%d creates at the gateway, want 1", n)
		}
	})
	t.Run("Env.Host, ClientConfig.BaseURL and Call.Header", func(t *testing.T) {
		if raw, found, err := store.StoreGet(ctx, "mine/INV-1"); err != nil || !found || string(raw) != idr.String() {
			t.Errorf("the API's record in the durable store: %q, %v, %v", raw, found, err)
		}
		if got, _ := hosts.notify.Load().(string); got != "https://billing.example/hook" {
			t.Errorf("X-Notify at the first host = %q; want the call's header", got)
		}
	})
	t.Run("health: a failure at either host, and details of the API's", func(t *testing.T) {
		hosts.statDown.Store(true)
		if _, err := gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: "pay_1"}); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("GetPayment with the status host down: %v", err)
		}
		health, _ := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
		if health.Status != sdk.HealthDegraded || !strings.Contains(health.Message, "the last call to Status failed") || health.Details["status_url"] != hosts.status.URL {
			t.Errorf("CheckHealth with the status host down: %+v", health)
		}
		hosts.statDown.Store(false)
		if _, err := gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: "pay_1"}); err != nil {
			t.Fatal(err)
		}
		if health, _ := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{}); health.Status != sdk.HealthOK {
			t.Errorf("CheckHealth once the status host answers: %+v", health)
		}
	})
	t.Run("a notification recorded before is a repeat", func(t *testing.T) {
		if _, err := store.StoreSet(ctx, "old/evt-before", []byte("pay_1"), sdk.StoreSetOptions{}); err != nil {
			t.Fatal(err)
		}
		n := gateway.Notification{ID: "evt-before", PaymentID: "pay_1", OrderID: "INV-1", Status: payment.StatusPaid, Amount: idr}
		resp, err := gw.HandleWebhook(ctx, note(n, "token-0123456789"))
		if err != nil || resp.Event == nil || !resp.Event.Duplicate {
			t.Fatalf("HandleWebhook: %+v, %v; want a duplicate", resp, err)
		}
		n.ID, n.Status = "evt-new", payment.StatusPending
		if _, err := gw.HandleWebhook(ctx, note(n, "token-0123456789")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NotificationChecker: runs before the replay record", func(t *testing.T) {
		n := gateway.Notification{ID: "evt-new", PaymentID: "pay_1", OrderID: "INV-1", Status: payment.StatusPending, Amount: payment.Money{Amount: 1, Currency: "IDR"}}
		if _, err := gw.HandleWebhook(ctx, note(n, "token-0123456789")); !errors.Is(err, payment.ErrAmountMismatch) {
			t.Errorf("a recorded id with an amount the records refuse: %v; want payment.ErrAmountMismatch", err)
		}
	})
	t.Run("ReportFinalStatus: a stale paid notification reports the final status", func(t *testing.T) {
		n := gateway.Notification{ID: "evt-paid", PaymentID: "pay_1", OrderID: "INV-1", Status: payment.StatusPaid, Amount: idr}
		if _, err := gw.HandleWebhook(ctx, note(n, "token-0123456789")); !errors.Is(err, payment.ErrUnconfirmed) {
			t.Errorf("paid while the status query says pending: %v; want payment.ErrUnconfirmed", err)
		}
		api.setStatus("pay_1", payment.StatusRefunded)
		resp, err := gw.HandleWebhook(ctx, note(n, "token-0123456789"))
		if err != nil || resp.Event == nil || resp.Event.Status != payment.StatusRefunded || !resp.Event.Confirmed {
			t.Errorf("paid while the status query says refunded: %+v, %v; want the refunded event, confirmed", resp, err)
		}
	})
	t.Run("without AwaitCreate a concurrent create is a conflict", func(t *testing.T) {
		api := &portedAPI{memAPI: &memAPI{payments: map[string]*payment.Payment{}}, createDelay: 500 * time.Millisecond}
		_, gw := servePorted(t, api, newTwoHosts(t), sdktest.NewFakeHost(), 0)
		done := make(chan error)
		go func() { _, err := gw.CreatePayment(ctx, create("k", idr)); done <- err }()
		time.Sleep(200 * time.Millisecond)
		if _, err := gw.CreatePayment(ctx, create("k", idr)); !errors.Is(err, sdk.ErrConflict) {
			t.Errorf("the second create: %v; want sdk.ErrConflict", err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	t.Run("ClientConfig.Timeout: the error says how long it waited", func(t *testing.T) {
		_, err := api.status.Get(ctx, "/slow", nil)
		if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "Status did not answer within 1s (GET /slow)") {
			t.Errorf("a call that took longer than ClientConfig.Timeout: %v", err)
		}
	})
}
