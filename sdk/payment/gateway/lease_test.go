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

// droppingAPI is memAPI whose next Create, when drop is set, fails as a
// request lost before the gateway made anything.
type droppingAPI struct {
	*memAPI
	drop atomic.Bool
}

func (d *droppingAPI) Create(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.Payment, error) {
	if d.drop.Swap(false) {
		return nil, fmt.Errorf("%w: the connection broke", sdk.ErrUnavailable)
	}
	return d.memAPI.Create(ctx, req)
}

// serveClocked serves a Gateway over api with the SDK's test settings, spec's
// lease and TTLs, on host and clock.
func serveClocked(t *testing.T, api gateway.API, host *sdktest.FakeHost, clk *sdktest.Clock, tune func(*gateway.Spec[settings])) payment.Gateway {
	t.Helper()
	spec := gateway.Spec[settings]{
		Name: "payment-mem", Version: "0.1.0",
		Environments: map[string]string{"sandbox": "https://sandbox.mem.example"},
		Defaults:     settings{Connection: gateway.Connection{Environment: "sandbox"}},
		New:          func(settings, *gateway.Env) (gateway.API, error) { return api, nil },
	}
	tune(&spec)
	g := gateway.New(spec)
	g.SetClock(clk.Now)
	host.Now = clk.Now
	h := sdktest.Serve(t, g, sdktest.WithHost(host))
	if _, err := h.Configure(context.Background(), map[string]any{"token": "t"}); err != nil {
		t.Fatal(err)
	}
	return h.Payment()
}

// TestCreateLease: with Spec.CreateLease, a create whose outcome is unknown
// keeps its key until the lease is over when the gateway shows no payment,
// and never adopts a payment another key made.
func TestCreateLease(t *testing.T) {
	ctx := context.Background()
	clk := &sdktest.Clock{}
	api := &droppingAPI{memAPI: &memAPI{payments: map[string]*payment.Payment{}}}
	gw := serveClocked(t, api, sdktest.NewFakeHost(), clk, func(s *gateway.Spec[settings]) { s.CreateLease = 3 * time.Minute })

	// A lost answer (the payment was made) is still adopted at once (memAPI
	// dates payments by the real time: before the clock moves).
	api.lose = true
	req := create("k3", idr)
	req.OrderID = "INV-3"
	if _, err := gw.CreatePayment(ctx, req); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("k3's lost answer: %v", err)
	}
	if resp, err := gw.CreatePayment(ctx, req); err != nil || api.creates != 1 || resp.Payment.OrderID != "INV-3" {
		t.Fatalf("k3's retry: %+v, %v (%d creates); want the payment made, adopted", resp, err, api.creates)
	}
	api.payments = map[string]*payment.Payment{}
	api.creates = 0

	api.drop.Store(true)
	if _, err := gw.CreatePayment(ctx, create("k1", idr)); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("a lost create: %v; want sdk.ErrUnavailable", err)
	}
	_, err := gw.CreatePayment(ctx, create("k1", idr))
	if !errors.Is(err, sdk.ErrConflict) || !strings.Contains(err.Error(), "retry in 3m0s") {
		t.Fatalf("its retry within the lease: %v; want sdk.ErrConflict saying when to retry", err)
	}
	if api.creates != 0 {
		t.Fatalf("the retry within the lease made %d payments; want none", api.creates)
	}
	clk.Advance(3*time.Minute + time.Second)
	first, err := gw.CreatePayment(ctx, create("k1", idr))
	if err != nil || api.creates != 1 {
		t.Fatalf("the retry after the lease: %+v, %v (%d creates); want one payment", first, err, api.creates)
	}

	// k2, for the same order and amount, loses its create: k1's payment,
	// pending and of that amount, is not taken for it.
	api.drop.Store(true)
	if _, err := gw.CreatePayment(ctx, create("k2", idr)); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("k2's lost create: %v", err)
	}
	if resp, err := gw.CreatePayment(ctx, create("k2", idr)); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("k2's retry: %+v, %v; want sdk.ErrConflict, not k1's payment %s", resp, err, first.Payment.ID)
	}
	clk.Advance(3*time.Minute + time.Second)
	second, err := gw.CreatePayment(ctx, create("k2", idr))
	if err != nil || second.Payment.ID == first.Payment.ID || api.creates != 2 {
		t.Fatalf("k2 after the lease: %+v, %v (%d creates); want its own payment", second, err, api.creates)
	}

}

// TestIdempotencyTTL: Spec.IdempotencyTTL keeps a key's payment that long.
func TestIdempotencyTTL(t *testing.T) {
	ctx := context.Background()
	clk := &sdktest.Clock{}
	api := &memAPI{payments: map[string]*payment.Payment{}}
	gw := serveClocked(t, api, sdktest.NewFakeHost(), clk, func(s *gateway.Spec[settings]) { s.IdempotencyTTL = 90 * 24 * time.Hour })
	first, err := gw.CreatePayment(ctx, create("k1", idr))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(89 * 24 * time.Hour)
	if again, err := gw.CreatePayment(ctx, create("k1", idr)); err != nil || again.Payment.ID != first.Payment.ID || api.creates != 1 {
		t.Fatalf("the key after 89 days: %+v, %v (%d creates); want the first payment", again, err, api.creates)
	}
	clk.Advance(2 * 24 * time.Hour)
	if _, err := gw.CreatePayment(ctx, create("k1", idr)); err != nil || api.creates != 2 {
		t.Fatalf("the key after 91 days: %v (%d creates); want it forgotten", err, api.creates)
	}
}

// TestClientTimeout: settings without Connection set Env.BaseURL in
// Spec.New and bound each attempt with ClientConfig.Timeout.
func TestClientTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	type own struct {
		URL string `json:"url"`
	}
	var client *gateway.Client
	g := gateway.New(gateway.Spec[own]{
		Name: "payment-own", Version: "0.1.0",
		New: func(s own, env *gateway.Env) (gateway.API, error) {
			env.BaseURL = s.URL
			client = env.Client(gateway.ClientConfig{Name: "Own", Timeout: 100 * time.Millisecond, Attempts: 1})
			return &memAPI{payments: map[string]*payment.Payment{}}, nil
		},
	})
	h := sdktest.Serve(t, g)
	if _, err := h.Configure(context.Background(), map[string]any{"url": srv.URL + "/"}); err != nil {
		t.Fatal(err)
	}
	if client.BaseURL() != srv.URL {
		t.Errorf("BaseURL = %q; want %q without the trailing slash", client.BaseURL(), srv.URL)
	}
	start := time.Now()
	_, err := client.Get(context.Background(), "/slow", nil)
	if took := time.Since(start); !errors.Is(err, sdk.ErrUnavailable) || took > 2*time.Second {
		t.Fatalf("a call to a server that stalls 5 s: %v after %s; want sdk.ErrUnavailable after about 100 ms", err, took)
	}
	health, _ := h.Plugin().CheckHealth(context.Background(), &sdk.CheckHealthRequest{})
	if health.Status != sdk.HealthDegraded || health.Details["base_url"] != srv.URL {
		t.Errorf("CheckHealth = %+v; want degraded, with the base URL New set", health)
	}
}

// TestCreateLeaseTakeover: after the lease, of concurrent retries of a lost
// create exactly one creates; the others answer sdk.ErrConflict.
func TestCreateLeaseTakeover(t *testing.T) {
	ctx := context.Background()
	clk := &sdktest.Clock{}
	api := &droppingAPI{memAPI: &memAPI{payments: map[string]*payment.Payment{}}}
	gw := serveClocked(t, api, sdktest.NewFakeHost(), clk, func(s *gateway.Spec[settings]) { s.CreateLease = 3 * time.Minute })
	api.drop.Store(true)
	if _, err := gw.CreatePayment(ctx, create("k1", idr)); !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("a lost create: %v", err)
	}
	clk.Advance(3*time.Minute + time.Second)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { _, errs[i] = gw.CreatePayment(ctx, create("k1", idr)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, sdk.ErrConflict) {
			t.Errorf("retry %d: %v; want a payment or sdk.ErrConflict", i, err)
		}
	}
	if api.creates != 1 {
		t.Fatalf("%d concurrent retries after the lease made %d payments; want 1 (errors %v)", len(errs), api.creates, errs)
	}
}
