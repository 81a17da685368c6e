package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/payment/gateway"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// ownClientAPI calls the gateway with an http.Client of its own (as a
// gateway's Go SDK would) over Env.Transport.
type ownClientAPI struct {
	*memAPI
	hc  *http.Client
	url string
}

func (a *ownClientAPI) Get(ctx context.Context, id string) (*payment.Payment, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url+"/payments/"+id, nil)
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", sdk.ErrUnavailable, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: HTTP %d", sdk.ErrUnavailable, resp.StatusCode)
	}
	return a.memAPI.Get(ctx, id)
}

func TestTransport(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer srv.Close()
	m := &memAPI{payments: map[string]*payment.Payment{"pay_1": {ID: "pay_1", OrderID: "INV-1", Amount: idr}}}
	g := gateway.New(gateway.Spec[settings]{
		Name: "payment-mem", Version: "0.1.0",
		Defaults: settings{Connection: gateway.Connection{BaseURL: srv.URL}},
		New: func(_ settings, env *gateway.Env) (gateway.API, error) {
			tr := env.Transport(gateway.ClientConfig{Name: "Mem", Credentials: "token"}, nil)
			return &ownClientAPI{memAPI: m, hc: &http.Client{Transport: tr}, url: env.BaseURL}, nil
		},
	})
	h := sdktest.Serve(t, g, sdktest.WithHost(sdktest.NewFakeHost()))
	ctx := context.Background()
	if _, err := h.Configure(ctx, map[string]any{"token": "t"}); err != nil {
		t.Fatal(err)
	}
	health := func() *sdk.CheckHealthResponse {
		t.Helper()
		r, err := h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	get := func() { _, _ = h.Payment().GetPayment(ctx, &payment.GetPaymentRequest{ID: "pay_1"}) }

	get()
	if r := health(); r.Status != sdk.HealthDegraded || !strings.Contains(r.Message, "Mem answered GET /payments/pay_1 with HTTP 503") {
		t.Errorf("health after a 503 = %+v; want degraded saying why", r)
	}
	status.Store(http.StatusUnauthorized)
	get()
	if r := health(); r.Status != sdk.HealthDegraded || !strings.Contains(r.Message, "check token in the plugin's settings") {
		t.Errorf("health after a 401 = %+v; want degraded naming the setting", r)
	}
	status.Store(http.StatusOK)
	get()
	if r := health(); r.Status != sdk.HealthOK {
		t.Errorf("health after a 200 = %+v; want ok", r)
	}
	text := metricsText(t, h)
	for _, want := range []string{
		`mem_api_requests_total{operation="get",outcome="503"} 1`,
		`mem_api_requests_total{operation="get",outcome="401"} 1`,
		`mem_api_requests_total{operation="get",outcome="200"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
}
