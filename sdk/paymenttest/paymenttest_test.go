package paymenttest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/paymenttest"
	"github.com/mikrobill/mikrobill/sdk/paymenttest/toypay"
)

// TestToyGatewayInProcess: a correct gateway passes the suite in-process.
func TestToyGatewayInProcess(t *testing.T) {
	paymenttest.Run(t, paymenttest.InProcess(t, &toypay.Gateway{}), toypay.NewFake(t), paymenttest.Options{})
}

// TestToyGatewayExecutable: a correct gateway passes the suite as a built
// executable launched the way the host launches it.
func TestToyGatewayExecutable(t *testing.T) {
	dir := buildToy(t, "", "")
	s := paymenttest.Executable(t, dir)
	if s.Name != toypay.Name || s.Version != toypay.Version {
		t.Errorf("Executable read name %q version %q from plugin.json, want %q %q", s.Name, s.Version, toypay.Name, toypay.Version)
	}
	paymenttest.Run(t, s, toypay.NewFake(t), paymenttest.Options{})
}

// buildToy builds testdata/toypay into a temporary plugin folder with its
// plugin.json; a non-empty version replaces the manifest's, a non-empty
// flaw is the gateway's.
func buildToy(t *testing.T, version string, flaw toypay.Flaw) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.flaw="+string(flaw), "-o", filepath.Join(dir, "mikrobill-plugin-payment-toypay"), "./testdata/toypay").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./testdata/toypay: %v\n%s", err, out)
	}
	manifest, err := os.ReadFile("testdata/toypay/plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	if version != "" {
		manifest = bytes.Replace(manifest, []byte(`"version": "1.0.0"`), []byte(`"version": "`+version+`"`), 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Environment of TestSubjectHelper, which TestKitCatches runs in a
// subprocess: the toy gateway's flaw (in-process), or the version to write
// into the executable's plugin.json.
const (
	envFlaw        = "PAYMENTTEST_TOY_FLAW"
	envExecVersion = "PAYMENTTEST_TOY_EXEC_VERSION"
	// envExecFlaw runs the executable toy gateway with this flaw.
	envExecFlaw = "PAYMENTTEST_TOY_EXEC_FLAW"
	// envCacheIdempotency runs cacheIdempotent instead of a toy gateway.
	envCacheIdempotency = "PAYMENTTEST_CACHE_IDEMPOTENCY"
)

// cacheIdempotent is a gateway that keeps its idempotency records in the
// host's cache: toypay without the gateway's own idempotency
// (toypay.NoIdempotency), remembering each key's payment with CacheSet. It
// passes "create" and must fail "cache_lost".
type cacheIdempotent struct{ *toypay.Gateway }

func (g cacheIdempotent) CreatePayment(ctx context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	key := "idem/" + req.IdempotencyKey
	id, found, err := g.Host().CacheGet(ctx, key)
	if err != nil {
		return nil, err
	}
	if found {
		resp, err := g.GetPayment(ctx, &payment.GetPaymentRequest{ID: string(id)})
		if err != nil {
			return nil, err
		}
		return &payment.CreatePaymentResponse{Payment: resp.Payment}, nil
	}
	resp, err := g.Gateway.CreatePayment(ctx, req)
	if err != nil {
		return nil, err
	}
	if _, err := g.Host().CacheSet(ctx, key, []byte(resp.Payment.ID), sdk.CacheSetOptions{TTL: 24 * time.Hour}); err != nil {
		return nil, err
	}
	return resp, nil
}

// TestSubjectHelper runs the suite on a broken toy gateway. It runs only as
// TestKitCatches's subprocess, where failing is what it is for.
func TestSubjectHelper(t *testing.T) {
	if v, ok := os.LookupEnv(envExecVersion); ok {
		paymenttest.Run(t, paymenttest.Executable(t, buildToy(t, v, "")), toypay.NewFake(t), paymenttest.Options{})
		return
	}
	if f, ok := os.LookupEnv(envExecFlaw); ok {
		paymenttest.Run(t, paymenttest.Executable(t, buildToy(t, "", toypay.Flaw(f))), toypay.NewFake(t), paymenttest.Options{})
		return
	}
	if _, ok := os.LookupEnv(envCacheIdempotency); ok {
		g := cacheIdempotent{&toypay.Gateway{Flaw: toypay.NoIdempotency}}
		paymenttest.Run(t, paymenttest.InProcess(t, g), toypay.NewFake(t), paymenttest.Options{})
		return
	}
	flaw, ok := os.LookupEnv(envFlaw)
	if !ok {
		t.Skip("runs only as TestKitCatches's subprocess")
	}
	paymenttest.Run(t, paymenttest.InProcess(t, &toypay.Gateway{Flaw: toypay.Flaw(flaw)}), toypay.NewFake(t), paymenttest.Options{})
}

// subtests are every subtest Run reports, by name under the test.
var subtests = []string{
	"describe", "configure", "health", "create", "currency", "cache_lost", "status", "status_by_order",
	"unconfirmed", "paid", "replay", "concurrent_replays", "reused_event",
	"refusals", "refusals/bad_signature", "refusals/wrong_amount", "refusals/unknown_order", "refusals/malformed",
	"refusals/unsigned", "refusals/empty_signature", "refusals/tampered_amount", "refusals/oversized",
	"unpaid", "unpaid/failed", "unpaid/cancelled", "unpaid/expired", "unpaid/unknown_status",
	"status_after", "hang", "hang/health", "hang/create", "hang/get", "hang/webhook", "restart_replay", "limits", "secrets",
}

// skippedInProcess are the subtests an InProcess subject cannot run.
var skippedInProcess = map[string]bool{"restart_replay": true, "secrets": true}

var resultLine = regexp.MustCompile(`--- (PASS|FAIL|SKIP): TestSubjectHelper/(\S+)`)

// TestKitCatches runs the suite in a subprocess on gateways that break one
// rule each, and checks that it fails in the subtest for that rule with a
// message that says what to do; and that it passes a correct gateway,
// subtest by subtest, so this test can tell the two apart.
func TestKitCatches(t *testing.T) {
	for _, c := range []struct {
		name     string
		env      string
		wantFail []string // at least these subtests fail
		wantMsg  string   // and the output says this
	}{
		{"correct", envFlaw + "=", nil, ""},
		{"a paid notification trusted without asking the status API", envFlaw + "=" + string(toypay.TrustsNotification),
			[]string{"unconfirmed"}, "ask the status API"},
		{"no replay guard: an event id reused for another payment accepted", envFlaw + "=" + string(toypay.AcceptsReplays),
			[]string{"reused_event"}, "reuses the event id"},
		{"a repeat answered with ErrReplay (the old contract)", envFlaw + "=" + string(toypay.ReplayIsError),
			[]string{"replay"}, "a repeat is not an error"},
		{"replay records keyed by event id alone", envFlaw + "=" + string(toypay.KeysEventOnly),
			[]string{"reused_event"}, "naming its payment"},
		{"the deadline ignored", envFlaw + "=" + string(toypay.IgnoresDeadline),
			[]string{"hang/create", "hang/get", "hang/webhook"}, "it ignores ctx"},
		{"signatures not verified", envFlaw + "=" + string(toypay.SkipsSignature),
			[]string{"refusals/bad_signature"}, "accepted a notification whose signature does not verify"},
		{"a wrong amount accepted", envFlaw + "=" + string(toypay.IgnoresAmount),
			[]string{"refusals/wrong_amount"}, "payment.ErrAmountMismatch"},
		{"a second payment for one idempotency key", envFlaw + "=" + string(toypay.NoIdempotency),
			[]string{"create"}, "made a second payment"},
		{"idempotency records kept in the cache", envCacheIdempotency + "=1",
			[]string{"cache_lost"}, "made a second payment \"toy_2\" (the first was \"toy_1\") once the host's cache had lost its entries; keep idempotency records in the host's durable store, Base.Host().StoreSet"},
		{"an unknown payment answered with a plain error", envFlaw + "=" + string(toypay.UnknownIsInternal),
			[]string{"status", "refusals/unknown_order"}, "wrap payment.ErrUnknownOrder"},
		{"invalid settings accepted", envFlaw + "=" + string(toypay.AcceptsAnySettings),
			[]string{"configure"}, "Configure accepted invalid settings"},
		{"a notification recorded before it counted", envFlaw + "=" + string(toypay.BurnsEventEarly),
			[]string{"paid"}, "a repeat about the same payment is not an error"},
		{"an unconfirmed paid notification refused as a precondition (422), not unconfirmed", envFlaw + "=" + string(toypay.UnconfirmedIsPrecondition),
			[]string{"unconfirmed"}, "wrapping payment.ErrUnconfirmed"},
		{"a new payment answered as paid", envFlaw + "=" + string(toypay.PaidOnCreate),
			[]string{"create"}, "a new payment is pending"},
		{"an unsigned notification accepted", envFlaw + "=" + string(toypay.AcceptsUnsigned),
			[]string{"refusals/unsigned", "refusals/empty_signature"}, "carries no signature at all"},
		{"an unknown status word counted as paid", envFlaw + "=" + string(toypay.UnknownWordIsPaid),
			[]string{"unpaid/unknown_status"}, "never as paid"},
		{"CheckHealth asks the gateway's API", envFlaw + "=" + string(toypay.HealthCallsAPI),
			[]string{"hang/health"}, "Never call the gateway from CheckHealth"},
		{"concurrent copies all reported as first deliveries", envFlaw + "=" + string(toypay.ConcurrentFirsts),
			[]string{"concurrent_replays"}, "a look-up followed by a write lets concurrent copies all pass"},
		{"replay records kept in memory (an executable, restarted)", envExecFlaw + "=" + string(toypay.MemoryReplays),
			[]string{"restart_replay"}, "did not survive the restart"},
		{"an executable whose plugin.json disagrees", envExecVersion + "=9.9.9",
			[]string{"describe"}, `but plugin.json says "9.9.9"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSubjectHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), c.env)
			raw, err := cmd.CombinedOutput()
			out := string(raw)
			got := map[string]string{}
			for _, m := range resultLine.FindAllStringSubmatch(out, -1) {
				got[m[2]] = m[1]
			}
			if c.wantFail == nil {
				if err != nil {
					t.Fatalf("the suite failed a correct gateway: %v\n%s", err, out)
				}
				for _, name := range subtests {
					if want := "PASS"; got[name] != want && !(skippedInProcess[name] && got[name] == "SKIP") {
						t.Errorf("subtest %s: %q, want PASS", name, got[name])
					}
				}
				if len(got) != len(subtests) {
					t.Errorf("the suite ran %d subtests, want %d: %v\n%s", len(got), len(subtests), got, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed a gateway with this flaw:\n%s", out)
			}
			for _, name := range c.wantFail {
				if got[name] != "FAIL" {
					t.Errorf("subtest %s: %q, want FAIL", name, got[name])
				}
			}
			if !strings.Contains(out, c.wantMsg) {
				t.Errorf("the output does not say %q", c.wantMsg)
			}
			if t.Failed() {
				t.Logf("results: %v\noutput:\n%s", got, out)
			}
		})
	}
}
