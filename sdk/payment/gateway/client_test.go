package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// testAPI is an HTTP server answering each request with the next of
// answers (the last one repeats), recording what it received.
type testAPI struct {
	srv *httptest.Server

	mu       sync.Mutex
	answers  []func(w http.ResponseWriter)
	received []*http.Request
}

func newTestAPI(t *testing.T, answers ...func(w http.ResponseWriter)) *testAPI {
	a := &testAPI{answers: answers}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // read first: a stalled answer still sees the client give up
		a.mu.Lock()
		a.received = append(a.received, r)
		answer := a.answers[0]
		if len(a.answers) > 1 {
			a.answers = a.answers[1:]
		}
		a.mu.Unlock()
		answer(w)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.received)
}

func status(code int, body string, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func stall(d time.Duration) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { time.Sleep(d); status(200, `{}`)(w) }
}

func testClient(a *testAPI, timeout time.Duration) *Client {
	return newClient(ClientConfig{
		Name: "Test Pay", IdempotencyHeader: "Idempotency-Key", Credentials: "api_key",
		Authorize: func(r *http.Request) { r.Header.Set("Authorization", "Bearer secret-key-123") },
		ErrorBody: JSONError("error.code", "error.message"),
		Codes:     map[string]error{"unsupported_currency": payment.ErrUnsupportedCurrency},
	}, a.srv.URL, timeout, slog.New(slog.DiscardHandler), nil)
}

func TestClient(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		answers  []func(http.ResponseWriter)
		call     Call
		want     error // nil: success
		text     string
		requests int
		failure  bool // LastFailure set afterwards
	}{
		{"ok", []func(http.ResponseWriter){status(200, `{"id":"p1"}`)}, Call{Method: "GET", Path: "/p/1"}, nil, "", 1, false},
		{"5xx then ok", []func(http.ResponseWriter){status(503, ``), status(200, `{}`)}, Call{Method: "GET", Path: "/p/1"}, nil, "", 2, false},
		{"retries are bounded", []func(http.ResponseWriter){status(500, `{"error":{"code":"boom","message":"down"}}`)}, Call{Method: "GET", Path: "/p/1"},
			sdk.ErrUnavailable, "HTTP 500 (boom): down (gave up after 3 attempts)", 3, true},
		{"a create without a key is never retried", []func(http.ResponseWriter){status(503, ``)}, Call{Method: "POST", Path: "/p", Body: map[string]int{"a": 1}},
			sdk.ErrUnavailable, "HTTP 503", 1, true},
		{"a create with a key is", []func(http.ResponseWriter){status(503, ``), status(201, `{}`)}, Call{Method: "POST", Path: "/p", IdempotencyKey: "k1"}, nil, "", 2, false},
		{"a refused key is not retried", []func(http.ResponseWriter){status(401, ``)}, Call{Method: "GET", Path: "/p/1"},
			sdk.ErrFailedPrecondition, "check api_key in the plugin's settings", 1, true},
		{"404", []func(http.ResponseWriter){status(404, ``)}, Call{Method: "GET", Path: "/p/1?x=secret-query"}, payment.ErrUnknownOrder, "GET /p/1 with HTTP 404", 1, false},
		{"a code of the gateway's", []func(http.ResponseWriter){status(400, `{"error":{"code":"unsupported_currency"}}`)}, Call{Method: "POST", Path: "/p"},
			payment.ErrUnsupportedCurrency, "(unsupported_currency)", 1, false},
		{"other 4xx", []func(http.ResponseWriter){status(422, ``)}, Call{Method: "POST", Path: "/p"}, sdk.ErrInvalidArgument, "HTTP 422", 1, false},
		{"429 waits for Retry-After", []func(http.ResponseWriter){status(429, ``, "Retry-After", "1"), status(200, `{}`)}, Call{Method: "GET", Path: "/p/1"}, nil, "", 2, false},
		{"an answer that is not JSON", []func(http.ResponseWriter){status(200, `<html>`)}, Call{Method: "GET", Path: "/p/1", Out: &struct{}{}},
			sdk.ErrUnavailable, "cannot read", 1, true},
		{"an attempt that times out is retried", []func(http.ResponseWriter){stall(2 * time.Second), status(200, `{}`)}, Call{Method: "GET", Path: "/p/1"}, nil, "", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t, tt.answers...)
			c := testClient(a, time.Second)
			begin := time.Now()
			_, err := c.Do(ctx, tt.call)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("Do: %v", err)
			case tt.want != nil && (!errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text)):
				t.Fatalf("Do: %v; want %v saying %q", err, tt.want, tt.text)
			case err != nil && (strings.Contains(err.Error(), "secret-key-123") || strings.Contains(err.Error(), "secret-query")):
				t.Errorf("the error repeats a credential or the query: %v", err)
			}
			if n := a.count(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if got := c.LastFailure() != ""; got != tt.failure {
				t.Errorf("LastFailure %q; want set=%v", c.LastFailure(), tt.failure)
			}
			if strings.Contains(tt.name, "Retry-After") && time.Since(begin) < time.Second {
				t.Errorf("retried after %s; Retry-After said 1s", time.Since(begin))
			}
		})
	}
	t.Run("what the gateway receives", func(t *testing.T) {
		a := newTestAPI(t, status(200, `{}`))
		if _, err := testClient(a, time.Second).Do(ctx, Call{Method: "POST", Path: "/p", IdempotencyKey: "k1", Body: map[string]int{"a": 1}}); err != nil {
			t.Fatal(err)
		}
		r := a.received[0]
		if r.Header.Get("Authorization") != "Bearer secret-key-123" || r.Header.Get("Idempotency-Key") != "k1" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
	})
	t.Run("the caller's deadline stops everything", func(t *testing.T) {
		a := newTestAPI(t, stall(5*time.Second))
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		begin := time.Now()
		_, err := testClient(a, 10*time.Second).Get(ctx, "/p/1", nil)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(begin) > 2*time.Second {
			t.Fatalf("Get: %v after %s; want context.DeadlineExceeded at once", err, time.Since(begin))
		}
	})
}

func TestJSONError(t *testing.T) {
	read := JSONError("error_code", "message")
	if code, msg := read([]byte(`{"error_code":"INVALID_API_KEY","message":"no"}`)); code != "INVALID_API_KEY" || msg != "no" {
		t.Errorf("got %q %q", code, msg)
	}
	if code, msg := read([]byte(`not json`)); code != "" || msg != "" {
		t.Errorf("got %q %q from garbage", code, msg)
	}
	if code, _ := JSONError("e.n", "m")([]byte(`{"e":{"n":42}}`)); code != "42" {
		t.Errorf("a numeric code: %q", code)
	}
}

// TestClientKeepsItsConnections: calls that run at once, round after
// round, reuse the connections of the round before: a burst of webhooks
// confirms each notification with the gateway without a new TCP and TLS
// handshake each (http.DefaultTransport keeps two idle connections a host,
// so there every call past the second connected again).
func TestClientKeepsItsConnections(t *testing.T) {
	const calls, rounds = 16, 3
	var conns atomic.Int64
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // answer once every call of the round is in: all run at once
		_, _ = io.WriteString(w, `{}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(ClientConfig{Name: "Test Pay"}, srv.URL, 10*time.Second, slog.New(slog.DiscardHandler), nil)
	for range rounds {
		arrived.Add(calls)
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() {
				if _, err := c.Get(context.Background(), "/payments/1", nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := conns.Load(); n != calls {
		t.Errorf("%d connections for %d rounds of %d calls at once, want %d: the first round's, kept", n, rounds, calls, calls)
	}
}
