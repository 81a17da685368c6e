package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// echoGateway is a payment plugin (testutil.Gateway, "payment-echo") that
// records the webhook requests it is handed and answers with a response
// the test sets.
type echoGateway struct {
	testutil.Gateway

	mu   sync.Mutex
	got  []sdk.HTTPRequest
	resp sdk.HTTPResponse
	err  error
}

func newEchoGateway() *echoGateway {
	g := &echoGateway{}
	g.Name, g.HandleWebhookFunc = "payment-echo", g.handleWebhook
	return g
}

func (g *echoGateway) handleWebhook(_ context.Context, req *payment.WebhookRequest) (*payment.WebhookResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got = append(g.got, req.Request)
	if g.err != nil {
		return nil, g.err
	}
	return &payment.WebhookResponse{Response: g.resp}, nil
}

// answer sets what the plugin answers and forgets what it was handed.
func (g *echoGateway) answer(resp sdk.HTTPResponse, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.resp, g.err, g.got = resp, err, nil
}

func (g *echoGateway) received() []sdk.HTTPRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]sdk.HTTPRequest(nil), g.got...)
}

// echoPlugins hands billing gw, served over real gRPC, as payment-echo.
func echoPlugins(gw payment.Gateway) testutil.Plugins {
	return testutil.Plugins{Payments: map[string]payment.Gateway{"payment-echo": gw}}
}

// passthroughLimit is the body limit of the passthrough tests.
const passthroughLimit = 4096

// webhookServer is the host's full HTTP handler with billing over the echo
// gateway, on a loopback port.
func webhookServer(t *testing.T) (*echoGateway, *httptest.Server) {
	t.Helper()
	gw := newEchoGateway()
	db := storetest.SQLite(t)
	cfg := config.DefaultConfig()
	cfg.Server.BodyLimit = passthroughLimit
	s := New(Deps{
		Config: cfg, Metrics: metrics.New(), DB: db,
		Billing: billing.New(db, nil, echoPlugins(sdktest.Serve(t, gw).Payment()), billing.Config{}, nil),
	})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return gw, srv
}

// rawClient neither asks for nor undoes compression, so the body read is
// the body written.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// TestWebhookPassesTheRawRequest: the plugin gets the method, path, query,
// every header with its repeated values, and the body byte for byte.
func TestWebhookPassesTheRawRequest(t *testing.T) {
	gw, srv := webhookServer(t)
	// Not valid JSON or UTF-8, with CRLF, NUL, trailing spaces: a signature
	// is over these bytes, so they must arrive as sent.
	body := []byte("{\"amount\": 150000 ,\r\n \"note\":\"caf\xc3\xa9\"}\x00\xff\xfe  \n")
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			gw.answer(sdk.HTTPResponse{StatusCode: http.StatusOK}, nil)
			req, err := http.NewRequest(method, srv.URL+"/webhooks/payment-echo?order_id=INV-1&x=a%20b&x=c&empty=&flag", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header["X-Callback-Signature"] = []string{"3f1a9c"}
			req.Header["X-Repeated"] = []string{"first", "second, with a comma", "third"}
			req.Header["Stripe-Signature"] = []string{"t=1764103200,v1=abc,v1=def"}
			req.Header["Content-Type"] = []string{"application/json; charset=utf-8"}
			req.Header["X-Request-Id"] = []string{"req-from-gateway"}
			req.Header["User-Agent"] = []string{"Gateway-Webhooks/2.1"}
			resp, err := rawClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}

			got := gw.received()
			if len(got) != 1 {
				t.Fatalf("the plugin was called %d times, want once", len(got))
			}
			r := got[0]
			if r.Method != method || r.Path != "/webhooks/payment-echo" || r.RawQuery != "order_id=INV-1&x=a%20b&x=c&empty=&flag" {
				t.Errorf("method %q path %q query %q", r.Method, r.Path, r.RawQuery)
			}
			if !bytes.Equal(r.Body, body) {
				t.Errorf("body %q, want %q", r.Body, body)
			}
			for name, want := range map[string][]string{
				"X-Callback-Signature": {"3f1a9c"},
				"X-Repeated":           {"first", "second, with a comma", "third"},
				"Stripe-Signature":     {"t=1764103200,v1=abc,v1=def"},
				"Content-Type":         {"application/json; charset=utf-8"},
				"User-Agent":           {"Gateway-Webhooks/2.1"},
				"X-Request-Id":         {"req-from-gateway"},
				"Content-Length":       {fmt.Sprint(len(body))},
			} {
				if d := cmp.Diff(want, r.Header.Values(name)); d != "" {
					t.Errorf("header %s (-want +got):\n%s", name, d)
				}
			}
			if r.RequestID != "req-from-gateway" || r.Host != strings.TrimPrefix(srv.URL, "http://") ||
				!strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") || r.ReceivedAt.IsZero() || r.Principal != nil {
				t.Errorf("request id %q host %q remote %q received %v principal %v", r.RequestID, r.Host, r.RemoteAddr, r.ReceivedAt, r.Principal)
			}
		})
	}
}

// TestWebhookBodyLimit: a body up to the limit reaches the plugin whole; one
// byte more is a 413 and the plugin is not called, with or without a
// Content-Length.
func TestWebhookBodyLimit(t *testing.T) {
	gw, srv := webhookServer(t)
	for _, tt := range []struct {
		name    string
		size    int
		chunked bool
		status  int
	}{
		{"at the limit", passthroughLimit, false, http.StatusOK},
		{"at the limit, chunked", passthroughLimit, true, http.StatusOK},
		{"one byte over", passthroughLimit + 1, false, http.StatusRequestEntityTooLarge},
		{"one byte over, chunked", passthroughLimit + 1, true, http.StatusRequestEntityTooLarge},
		{"far over", 10 * passthroughLimit, false, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gw.answer(sdk.HTTPResponse{}, nil)
			body := bytes.Repeat([]byte("0123456789abcdef"), tt.size/16+1)[:tt.size]
			var rd io.Reader = bytes.NewReader(body)
			if tt.chunked {
				rd = io.MultiReader(rd) // no length known: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/payment-echo", rd)
			resp, err := rawClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %s; want %d", resp.StatusCode, raw, tt.status)
			}
			got := gw.received()
			if tt.status != http.StatusOK {
				if len(got) != 0 {
					t.Errorf("the plugin was called with a body over the limit (%d bytes)", len(got[0].Body))
				}
				if !strings.Contains(string(raw), `"body_too_large"`) || !strings.Contains(string(raw), fmt.Sprintf("larger than %d bytes", passthroughLimit)) {
					t.Errorf("413 body %s", raw)
				}
				return
			}
			if len(got) != 1 || !bytes.Equal(got[0].Body, body) {
				t.Fatalf("the plugin got %d calls; want one with the %d bytes sent", len(got), tt.size)
			}
			if tt.chunked && got[0].Header.Get("Content-Length") != "" {
				t.Errorf("chunked request reached the plugin with Content-Length %q", got[0].Header.Get("Content-Length"))
			}
		})
	}
}

// TestWebhookWritesThePluginsResponse: the plugin's status, headers (with
// repeated values) and body go back to the gateway as they are; status 0
// is 200; a refusal is the API's error shape with the plugin's message.
func TestWebhookWritesThePluginsResponse(t *testing.T) {
	gw, srv := webhookServer(t)
	post := func() (*http.Response, []byte) {
		t.Helper()
		resp, err := rawClient.Post(srv.URL+"/webhooks/payment-echo", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, raw
	}

	t.Run("status, headers, body", func(t *testing.T) {
		// Over compressMin and text: the compression middleware must still
		// leave it alone, since the gateway did not ask for it.
		body := append([]byte("ACK\x00\xff\r\n"), bytes.Repeat([]byte("accepted "), 200)...)
		gw.answer(sdk.HTTPResponse{
			StatusCode: http.StatusAccepted,
			Header: http.Header{
				"Content-Type":  {"text/plain; charset=utf-8"},
				"X-Gateway-Ack": {"evt_123"},
				"X-Multi":       {"1", "2", "3"},
			},
			Body: body,
		}, nil)
		resp, raw := post()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d, want the plugin's 202", resp.StatusCode)
		}
		if !bytes.Equal(raw, body) {
			t.Errorf("body %q, want the plugin's %q", raw, body)
		}
		for name, want := range map[string][]string{
			"Content-Type":  {"text/plain; charset=utf-8"},
			"X-Gateway-Ack": {"evt_123"},
			"X-Multi":       {"1", "2", "3"},
		} {
			if d := cmp.Diff(want, resp.Header.Values(name)); d != "" {
				t.Errorf("header %s (-want +got):\n%s", name, d)
			}
		}
		// The host's own headers are still there.
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("host headers missing: %v", resp.Header)
		}
	})

	t.Run("status 0 is 200", func(t *testing.T) {
		gw.answer(sdk.HTTPResponse{Body: []byte("ok")}, nil)
		resp, raw := post()
		if resp.StatusCode != http.StatusOK || string(raw) != "ok" {
			t.Errorf("%d %q; want 200 ok", resp.StatusCode, raw)
		}
	})

	t.Run("cookies and the host's own headers are not the plugin's", func(t *testing.T) {
		gw.answer(sdk.HTTPResponse{
			StatusCode: http.StatusOK,
			Header: http.Header{
				"Set-Cookie":        {"session=stolen; Path=/"},
				"X-Frame-Options":   {"ALLOWALL"},
				"Transfer-Encoding": {"chunked"},
				"X-Gateway-Ack":     {"evt_124"},
			},
			Body: []byte("ok"),
		}, nil)
		resp, raw := post()
		if resp.StatusCode != http.StatusOK || string(raw) != "ok" {
			t.Fatalf("%d %q; want 200 ok", resp.StatusCode, raw)
		}
		if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
			t.Errorf("the plugin set a cookie on the host's origin: %q", c)
		}
		if d := cmp.Diff([]string{"DENY"}, resp.Header.Values("X-Frame-Options")); d != "" {
			t.Errorf("X-Frame-Options is the host's (-want +got):\n%s", d)
		}
		if resp.Header.Get("X-Gateway-Ack") != "evt_124" {
			t.Errorf("the plugin's own header was lost: %v", resp.Header)
		}
	})

	t.Run("a status that is not final is a bad gateway", func(t *testing.T) {
		gw.answer(sdk.HTTPResponse{StatusCode: 42, Body: []byte("weird")}, nil)
		resp, raw := post()
		var e errorBody
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
		}
		if resp.StatusCode != http.StatusBadGateway || e.Error.Code != "bad_plugin_response" || !strings.Contains(e.Error.Message, "42") {
			t.Errorf("%d %s; want 502 bad_plugin_response naming the status", resp.StatusCode, raw)
		}
	})

	t.Run("a refusal is the error shape with the plugin's reason", func(t *testing.T) {
		gw.answer(sdk.HTTPResponse{}, fmt.Errorf("%w: X-Echo-Signature does not match the body", payment.ErrInvalidSignature))
		resp, raw := post()
		var e errorBody
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
		}
		if resp.StatusCode != http.StatusUnauthorized || e.Error.Code != "unauthenticated" || !strings.Contains(e.Error.Message, "X-Echo-Signature does not match the body") {
			t.Errorf("%d %s; want 401 unauthenticated with the plugin's message", resp.StatusCode, raw)
		}
	})

	// A replay is never acknowledged: the plugin's ErrReplay is a
	// notification id used for another payment (or, from an old plugin, a
	// repeat whose credit may have failed here).
	t.Run("a replay is 409 replay, never 2xx", func(t *testing.T) {
		gw.answer(sdk.HTTPResponse{}, fmt.Errorf("%w: notification evt_123 was for payment PAY-1, this one is about PAY-2", payment.ErrReplay))
		resp, raw := post()
		var e errorBody
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
		}
		if resp.StatusCode != http.StatusConflict || e.Error.Code != "replay" || !strings.Contains(e.Error.Message, "PAY-1") ||
			!strings.Contains(e.Error.Message, "nothing was credited") {
			t.Errorf("%d %s; want 409 replay naming the payments and saying nothing was credited", resp.StatusCode, raw)
		}
	})

	// docs/api.md: "The webhook says paid, the gateway's status query does
	// not" is 409 unconfirmed, also when the plugin itself finds it out
	// (Midtrans' notification says settlement, its status API pending).
	t.Run("a plugin's unconfirmed is 409 unconfirmed", func(t *testing.T) {
		gw.answer(sdk.HTTPResponse{}, fmt.Errorf("%w: the notification for order INV-1 says settlement, Midtrans' status API says pending", payment.ErrUnconfirmed))
		resp, raw := post()
		var e errorBody
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
		}
		if resp.StatusCode != http.StatusConflict || e.Error.Code != "unconfirmed" || !strings.Contains(e.Error.Message, "status API says pending") {
			t.Errorf("%d %s; want 409 unconfirmed with the plugin's message", resp.StatusCode, raw)
		}
	})

	t.Run("no such plugin", func(t *testing.T) {
		resp, err := rawClient.Post(srv.URL+"/webhooks/payment-nothing", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%d; want 404", resp.StatusCode)
		}
	})
}
