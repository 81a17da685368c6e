package paymenttest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Webhook fuzzing: a plugin's fuzz_test.go serves its gateway with
// NewWebhookFuzzer (before f.Fuzz) and hands each fuzzed request to Check
// (inside it), saying whether the test signed it with the configured
// secret. Check holds the gateway to what HandleWebhook promises whatever
// the bytes; the plugin's test adds what only it knows (its signature
// scheme, its payload). See docs/fuzzing.md.

// webhookWithin bounds one HandleWebhook call under fuzzing. The fuzz
// gateway's API (APIURL) answers at once, so a call that takes longer is
// stuck.
const webhookWithin = 10 * time.Second

// WebhookFuzzer is one gateway served in-process for fuzzing its
// notifications.
type WebhookFuzzer struct {
	// Gateway is the payment client, as the host sees the plugin: use it
	// to create the payments notifications may be about.
	Gateway payment.Gateway
	// Host is the plugin's host service (durable store and cache).
	Host *sdktest.FakeHost
	// SignatureInHeader: the gateway signs in a header, which it checks
	// before it reads the body, so Check wants payment.ErrInvalidSignature
	// for every request not signed, whatever its body.
	SignatureInHeader bool
	// NothingPaid: the gateway's API knows no payment (APIServer), so no
	// notification may come back paid.
	NothingPaid bool
	opts        Options
	// impl is the gateway itself, which Check calls directly in a fuzzing
	// worker (see fuzzWorker).
	impl payment.Gateway
}

// APIServer is a stand-in for a gateway's API that knows no payment: every
// call is answered 404 with a JSON error. Point a plugin's base URL
// setting at its URL for fuzzing: no notification can be confirmed paid
// by it, so a fuzzed notification that comes back paid and confirmed is a
// defect. It stops when the test ends.
func APIServer(tb testing.TB) string {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error": "not found", "message": "not found", "status_code": "404"}`))
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// NewWebhookFuzzer serves gw in-process (real gRPC, as InProcess does),
// configures it with settings and returns the fuzzer. Call it once per
// fuzz target, before f.Fuzz. Its logs are dropped: fuzzing makes
// millions of lines.
func NewWebhookFuzzer(f *testing.F, gw payment.Gateway, settings map[string]any, opts Options) *WebhookFuzzer {
	f.Helper()
	host := sdktest.NewFakeHost()
	h := sdktest.Serve(f, gw, sdktest.WithHost(host), sdktest.WithLogger(hclog.NewNullLogger()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.Configure(ctx, settings); err != nil {
		f.Fatalf("Configure with the fuzz settings: %v", err)
	}
	return &WebhookFuzzer{Gateway: h.Payment(), Host: host, opts: opts, impl: gw}
}

// webhookErrors are the errors HandleWebhook may answer a notification
// with: the payment sentinels it documents, a request it does not take
// (sdk.ErrInvalidArgument: a notification kind it does not handle), and
// the gateway's API failing while the plugin confirms (sdk.ErrUnavailable,
// sdk.ErrDeadlineExceeded). Anything else is answered 500 by the host and
// sent again and again by the gateway.
var webhookErrors = []error{
	payment.ErrInvalidSignature, payment.ErrReplay, payment.ErrAmountMismatch, payment.ErrUnknownOrder,
	payment.ErrUnconfirmed, payment.ErrMalformedPayload, payment.ErrUnsupportedCurrency,
	sdk.ErrInvalidArgument, sdk.ErrUnavailable, sdk.ErrDeadlineExceeded,
}

// Check hands req to HandleWebhook (through gRPC, as the host does, except
// in a fuzzing worker: see fuzzWorker) and fails the test when the answer
// breaks the contract:
//   - the call ends within 10 seconds;
//   - an error is one of the sentinels HandleWebhook documents (see
//     webhookErrors), and comes with no event;
//   - a request the test signed is never refused with
//     payment.ErrInvalidSignature; one it did not sign (signed false) is
//     refused with it, the signature being checked first (or with
//     payment.ErrMalformedPayload for a gateway that signs inside a body
//     that does not parse, unless SignatureInHeader);
//   - an event names its payment or order, carries the body as Raw, and
//     when it says paid, has a positive amount and was confirmed with the
//     gateway's status API (unless it is a Duplicate, or the options say
//     the notification is authoritative), and there is none with
//     NothingPaid.
//
// It returns the answer for the plugin's own checks.
func (w *WebhookFuzzer) Check(t *testing.T, req sdk.HTTPRequest, signed bool) (*payment.WebhookResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), webhookWithin)
	defer cancel()
	via := w.Gateway
	if fuzzWorker() {
		via = w.impl
	}
	resp, err := via.HandleWebhook(ctx, &payment.WebhookRequest{Request: req})
	if ctx.Err() != nil {
		t.Fatalf("HandleWebhook took over %s (error %v)", webhookWithin, err)
	}
	if err != nil {
		if resp != nil && resp.Event != nil {
			t.Fatalf("HandleWebhook failed (%v) and reported an event: %+v", err, resp.Event)
		}
		if !isOneOf(err, webhookErrors) {
			t.Fatalf("HandleWebhook failed with %v; want one of the sentinels it documents (payment.ErrMalformedPayload for a body it cannot read)", err)
		}
		if signed && errors.Is(err, payment.ErrInvalidSignature) {
			t.Fatalf("a request signed with the configured secret was refused: %v", err)
		}
		if !signed && w.SignatureInHeader && !errors.Is(err, payment.ErrInvalidSignature) {
			t.Fatalf("a request without a valid signature was refused with %v, not payment.ErrInvalidSignature: the signature is checked first, whatever the body", err)
		}
		if !signed && !errors.Is(err, payment.ErrInvalidSignature) && !errors.Is(err, payment.ErrMalformedPayload) {
			t.Fatalf("a request without a valid signature was refused with %v, not payment.ErrInvalidSignature "+
				"(or payment.ErrMalformedPayload, when the signature is in a body that does not parse): the signature is checked first", err)
		}
		return resp, err
	}
	if !signed {
		t.Fatalf("a request without a valid signature was accepted: %+v", resp)
	}
	if resp == nil {
		t.Fatal("HandleWebhook returned neither a response nor an error")
	}
	if sc := resp.Response.StatusCode; sc != 0 && (sc < 200 || sc > 299) {
		t.Fatalf("HandleWebhook succeeded with HTTP status %d for the gateway; an accepted notification is answered 2xx", sc)
	}
	ev := resp.Event
	if ev == nil {
		return resp, nil
	}
	if ev.PaymentID == "" && ev.OrderID == "" {
		t.Fatalf("event names neither a payment nor an order: %+v", ev)
	}
	if !bytes.Equal(ev.Raw, req.Body) {
		t.Fatalf("event.Raw is not the body as received (%d bytes, body %d)", len(ev.Raw), len(req.Body))
	}
	if ev.Status == payment.StatusPaid {
		if w.NothingPaid {
			t.Fatalf("a notification was reported paid though the gateway's API knows no payment: %+v", ev)
		}
		if ev.Amount.Amount <= 0 || ev.Amount.Currency == "" {
			t.Fatalf("a paid event of %v: a payment is paid with a positive amount in a currency", ev.Amount)
		}
		if !ev.Confirmed && !ev.Duplicate && !w.opts.NotificationIsAuthoritative {
			t.Fatalf("a paid event the gateway's status API did not confirm: %+v", ev)
		}
	}
	return resp, nil
}

// fuzzWorker reports whether this process mutates inputs for go test
// -fuzz. There Check calls the gateway directly: coverage guides the
// fuzzer, and the goroutines of a gRPC call that run on after it returns
// make coverage differ from run to run, so every input looked new and
// almost none were mutated. Elsewhere (the seeds, in every go test) Check
// calls through gRPC as the host does, which also checks that the request
// goes over the protocol.
func fuzzWorker() bool {
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}

func isOneOf(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// SignedAt turns a fuzzed number of seconds into when a timestamped
// signature (Stripe's t=..., gateway.TimestampSignature) is made: now
// moved by n seconds, within an hour either way. valid says whether a
// gateway that takes signatures made within tolerance of now must accept
// it; a time within 50 seconds of the tolerance's edge, where the test's
// clock and the plugin's may disagree, is moved to now.
func SignedAt(now time.Time, n int64, tolerance time.Duration) (at time.Time, valid bool) {
	d := time.Duration(n%3600) * time.Second
	edge := 50 * time.Second
	switch abs := max(d, -d); {
	case abs < tolerance-edge:
		return now.Add(d), true
	case abs < tolerance+edge:
		return now, true
	default:
		return now.Add(d), false
	}
}
