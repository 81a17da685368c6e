package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"id":"evt_1","object":"event","type":"checkout.session.completed"}`)
	now := time.Unix(1_767_000_000, 0)
	secrets := []string{testSecret}
	tests := []struct {
		name    string
		header  string
		body    []byte
		secrets []string
		ok      bool
	}{
		{"valid", sign(body, now, testSecret), body, secrets, true},
		{"made by stripe-go's webhook package", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: testSecret, Timestamp: now}).Header, body, secrets, true},
		{"tampered body", sign(body, now, testSecret), []byte(strings.Replace(string(body), "evt_1", "evt_2", 1)), secrets, false},
		{"one byte more", sign(body, now, testSecret), append(append([]byte{}, body...), ' '), secrets, false},
		{"other secret", sign(body, now, testSecret2), body, secrets, false},
		{"rotating here: the second configured secret", sign(body, now, testSecret2), body, []string{testSecret, testSecret2}, true},
		{"rotating at Stripe: several v1, one matches", sign(body, now, testSecret2, testSecret), body, secrets, true},
		{"several v1, none matches", sign(body, now, testSecret2, "whsec_third0123456789"), body, secrets, false},
		{"299 s old", sign(body, now.Add(-299*time.Second), testSecret), body, secrets, true},
		{"301 s old", sign(body, now.Add(-301*time.Second), testSecret), body, secrets, false},
		{"301 s ahead", sign(body, now.Add(301*time.Second), testSecret), body, secrets, false},
		{"v0 only", strings.Replace(sign(body, now, testSecret), "v1=", "v0=", 1), body, secrets, false},
		{"no timestamp", sign(body, now, testSecret)[strings.Index(sign(body, now, testSecret), ",")+1:], body, secrets, false},
		{"timestamp changed", strings.Replace(sign(body, now, testSecret), "t=1767000000", "t=1767000001", 1), body, secrets, false},
		{"two timestamps", "t=1767000000," + sign(body, now, testSecret), body, secrets, false},
		{"not hex", "t=1767000000,v1=zz", body, secrets, false},
		{"empty", "", body, secrets, false},
		{"garbage", "sha256=abcdef", body, secrets, false},
		{"extra unknown parts are ignored", sign(body, now, testSecret) + ",v0=abc,x=y", body, secrets, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verifySignature(tc.header, tc.body, tc.secrets, now)
			if tc.ok && err != nil {
				t.Errorf("verifySignature: %v", err)
			}
			if !tc.ok && !errors.Is(err, payment.ErrInvalidSignature) {
				t.Errorf("verifySignature = %v, want payment.ErrInvalidSignature", err)
			}
			if err != nil {
				for _, s := range []string{testSecret, testSecret2} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error repeats a secret: %v", err)
					}
				}
			}
		})
	}
}

func TestWebhookEvents(t *testing.T) {
	e := serve(t, nil)
	tests := []struct {
		name      string
		setup     func(id string)
		event     func(id string) []byte
		want      payment.Status
		confirmed bool
	}{
		{"completed and paid", e.fake.setPaid, e.fake.paidEvent, payment.StatusPaid, true},
		{"completed, async method processing", e.fake.setProcessing, func(id string) []byte {
			return e.fake.event(eventCompleted, id, func(o map[string]any) { o["status"], o["payment_status"] = "complete", "unpaid" })
		}, payment.StatusPending, true},
		{"async payment succeeded", e.fake.setPaid, func(id string) []byte {
			return e.fake.event(eventAsyncSucceeded, id, func(o map[string]any) { o["status"], o["payment_status"] = "complete", "paid" })
		}, payment.StatusPaid, true},
		{"async payment failed", e.fake.setAsyncFailed, func(id string) []byte {
			return e.fake.event(eventAsyncFailed, id, func(o map[string]any) { o["status"], o["payment_status"] = "complete", "unpaid" })
		}, payment.StatusFailed, true},
		{"expired", e.fake.setExpired, func(id string) []byte {
			return e.fake.event(eventExpired, id, func(o map[string]any) { o["status"] = "expired" })
		}, payment.StatusExpired, true},
		{"processing event arriving after the payment succeeded", e.fake.setPaid, func(id string) []byte {
			return e.fake.event(eventCompleted, id, func(o map[string]any) { o["status"], o["payment_status"] = "complete", "unpaid" })
		}, payment.StatusPaid, true},
		// What Stripe's API says is reported, confirmed, whatever the
		// event claimed (the SDK's rule for every gateway).
		{"expired event, API still open", func(string) {}, func(id string) []byte {
			return e.fake.event(eventExpired, id, func(o map[string]any) { o["status"] = "expired" })
		}, payment.StatusPending, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := e.create(t, createRequest(newOrder(), rp150k))
			tc.setup(p.ID)
			body := tc.event(p.ID)
			resp, err := e.signed(body)
			if err != nil {
				t.Fatalf("HandleWebhook: %v", err)
			}
			if resp.Response.StatusCode != http.StatusOK || string(resp.Response.Body) != `{"received":true}` {
				t.Errorf("response %d %s", resp.Response.StatusCode, resp.Response.Body)
			}
			ev := resp.Event
			if ev == nil {
				t.Fatal("no event")
			}
			var evID struct{ ID, Type string }
			_ = json.Unmarshal(body, &evID)
			if ev.Status != tc.want || ev.Confirmed != tc.confirmed || ev.PaymentID != p.ID || ev.OrderID != p.OrderID ||
				ev.Amount != rp150k || ev.EventID != evID.ID || ev.GatewayStatus != e.get(t, p.ID).GatewayStatus || string(ev.Raw) != string(body) || ev.OccurredAt.IsZero() {
				t.Errorf("event %+v; want %s confirmed=%v for %s", ev, tc.want, tc.confirmed, p.ID)
			}
		})
	}

	// A paid event about a payment refunded since is reported with the
	// status Stripe's API gives, confirmed (as 0.1.0 did,
	// Spec.ReportFinalStatus): Stripe stops resending it, and the host
	// learns the refund.
	t.Run("paid event for a payment refunded since", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		e.fake.update(p.ID, func(s *fakeSession) { s.AmountRefunded = s.Amount })
		resp, err := e.signed(e.fake.paidEvent(p.ID))
		if err != nil || resp.Event == nil || resp.Event.Status != payment.StatusRefunded || !resp.Event.Confirmed {
			t.Errorf("HandleWebhook = %+v, %v; want the payment reported refunded, confirmed", resp, err)
		}
	})
	t.Run("paid event the API does not back yet", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		body := e.fake.paidEvent(p.ID)
		_, err := e.signed(body)
		if !errors.Is(err, payment.ErrUnconfirmed) {
			t.Fatalf("HandleWebhook = %v, want payment.ErrUnconfirmed (not confirmed)", err)
		}
		// Stripe sends the event again; by then the API agrees.
		e.fake.setPaid(p.ID)
		resp, err := e.webhook(body, sign(body, time.Now(), testSecret))
		if err != nil || resp.Event.Status != payment.StatusPaid || !resp.Event.Confirmed {
			t.Fatalf("redelivery = %+v, %v; want paid", resp, err)
		}
		// And once more: the same event, marked Duplicate.
		if resp, err := e.signed(body); err != nil || !resp.Event.Duplicate || resp.Event.Status != payment.StatusPaid {
			t.Errorf("third delivery = %+v, %v; want a paid duplicate", resp, err)
		}
	})
	// A repeat is reported again, marked Duplicate, without calling Stripe:
	// the host decides whether anything is left to credit (issue point 1).
	t.Run("repeat, even re-signed", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.paidEvent(p.ID)
		first, err := e.signed(body)
		if err != nil {
			t.Fatal(err)
		}
		before := len(e.fake.received())
		resp, err := e.signed(body)
		if err != nil {
			t.Fatalf("second delivery = %v, want the event again", err)
		}
		got, want := resp.Event, first.Event
		if !got.Duplicate || got.EventID != want.EventID || got.PaymentID != want.PaymentID || got.OrderID != want.OrderID ||
			got.Status != want.Status || got.Amount != want.Amount || resp.Response.StatusCode != http.StatusOK {
			t.Errorf("second delivery = %+v, want %+v marked Duplicate", got, want)
		}
		if len(e.fake.received()) != before {
			t.Errorf("a repeat called Stripe")
		}
	})
	t.Run("an event id recorded for another session", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		q := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		e.fake.setPaid(q.ID)
		body := e.fake.paidEvent(p.ID)
		if _, err := e.signed(body); err != nil {
			t.Fatal(err)
		}
		var ev struct{ ID string }
		_ = json.Unmarshal(body, &ev)
		_, err := e.signed(withEventID(t, e.fake.paidEvent(q.ID), ev.ID))
		if !errors.Is(err, payment.ErrReplay) || !strings.Contains(err.Error(), p.ID) || !strings.Contains(err.Error(), q.ID) {
			t.Errorf("HandleWebhook = %v, want payment.ErrReplay naming both sessions", err)
		}
	})
	t.Run("concurrent deliveries: all reported, one first", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.paidEvent(p.ID)
		var wg sync.WaitGroup
		var mu sync.Mutex
		first, duplicates := 0, 0
		for range 10 {
			wg.Go(func() {
				resp, err := e.signed(body)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("delivery: %v", err)
				case resp.Event.Duplicate:
					duplicates++
				case resp.Event.Status == payment.StatusPaid:
					first++
				default:
					t.Errorf("delivery: %+v", resp.Event)
				}
			})
		}
		wg.Wait()
		if first != 1 || duplicates != 9 {
			t.Errorf("%d first, %d duplicates; want 1 and 9", first, duplicates)
		}
	})
	t.Run("wrong amount", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.event(eventCompleted, p.ID, func(o map[string]any) {
			o["status"], o["payment_status"], o["amount_total"] = "complete", "paid", int64(1500000)
		})
		if _, err := e.signed(body); !errors.Is(err, payment.ErrAmountMismatch) {
			t.Errorf("HandleWebhook = %v, want payment.ErrAmountMismatch", err)
		}
	})
	t.Run("wrong currency", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.event(eventCompleted, p.ID, func(o map[string]any) {
			o["status"], o["payment_status"], o["currency"] = "complete", "paid", "usd"
		})
		if _, err := e.signed(body); !errors.Is(err, payment.ErrAmountMismatch) {
			t.Errorf("HandleWebhook = %v, want payment.ErrAmountMismatch", err)
		}
	})
	t.Run("another order", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.event(eventCompleted, p.ID, func(o map[string]any) {
			o["status"], o["payment_status"], o["client_reference_id"] = "complete", "paid", "INV-SOMEONE-ELSE"
		})
		if _, err := e.signed(body); !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("HandleWebhook = %v, want payment.ErrUnknownOrder", err)
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		body := e.fake.paidEvent("cs_test_b1neverMadeByTheFake")
		if _, err := e.signed(body); !errors.Is(err, payment.ErrUnknownOrder) {
			t.Errorf("HandleWebhook = %v, want payment.ErrUnknownOrder", err)
		}
	})
	t.Run("event of another kind is acknowledged and ignored", func(t *testing.T) {
		body := []byte(`{"id":"evt_1Other","object":"event","api_version":"2026-03-25.dahlia","created":1767000000,"livemode":false,"type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","amount":1000,"currency":"usd","status":"succeeded"}}}`)
		resp, err := e.signed(body)
		if err != nil || resp.Event != nil || resp.Response.StatusCode != http.StatusOK {
			t.Errorf("HandleWebhook = %+v, %v; want 200 and no event", resp, err)
		}
	})
	t.Run("live event to a test-mode plugin", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.event(eventCompleted, p.ID, func(o map[string]any) {
			o["status"], o["payment_status"], o["livemode"] = "complete", "paid", true
		})
		if _, err := e.signed(body); !errors.Is(err, sdk.ErrFailedPrecondition) {
			t.Errorf("HandleWebhook = %v, want sdk.ErrFailedPrecondition", err)
		}
	})
	malformed := map[string]string{
		"not JSON":                     `paid=true`,
		"truncated":                    `{"id":"evt_1","object":"event"`,
		"an array":                     `[1,2]`,
		"not an event":                 `{"id":"cs_test_1","object":"checkout.session"}`,
		"no data":                      `{"id":"evt_1","object":"event","type":"checkout.session.completed","livemode":false}`,
		"data.object is a string":      `{"id":"evt_1","object":"event","type":"checkout.session.completed","livemode":false,"data":{"object":"cs_test_1"}}`,
		"data.object is not a session": `{"id":"evt_1","object":"event","type":"checkout.session.completed","livemode":false,"data":{"object":{"id":"pi_1","object":"payment_intent","currency":"usd"}}}`,
		"two objects":                  `{"id":"evt_1","object":"event","type":"x","livemode":false,"data":{"object":{}}}{}`,
	}
	for name, body := range malformed {
		t.Run("malformed/"+name, func(t *testing.T) {
			before := len(e.fake.received())
			if _, err := e.signed([]byte(body)); !errors.Is(err, payment.ErrMalformedPayload) {
				t.Errorf("HandleWebhook = %v, want payment.ErrMalformedPayload", err)
			}
			if len(e.fake.received()) != before {
				t.Errorf("a malformed body called Stripe")
			}
		})
	}
	t.Run("bad signatures are refused before anything else", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.paidEvent(p.ID)
		before := len(e.fake.received())
		for name, header := range map[string]string{
			"none":      "",
			"wrong key": sign(body, time.Now(), testSecret2),
			"old":       sign(body, time.Now().Add(-10*time.Minute), testSecret),
		} {
			if _, err := e.webhook(body, header); !errors.Is(err, payment.ErrInvalidSignature) {
				t.Errorf("%s: HandleWebhook = %v, want payment.ErrInvalidSignature", name, err)
			}
		}
		if _, err := e.webhook([]byte("garbage"), sign([]byte("other"), time.Now(), testSecret)); !errors.Is(err, payment.ErrInvalidSignature) {
			t.Errorf("garbage with a signature over other bytes = %v, want payment.ErrInvalidSignature", err)
		}
		if len(e.fake.received()) != before {
			t.Errorf("a bad signature called Stripe")
		}
		// Refused deliveries were not remembered: the genuine one is handled.
		if resp, err := e.signed(body); err != nil || resp.Event.Status != payment.StatusPaid {
			t.Errorf("genuine delivery = %+v, %v", resp, err)
		}
	})
	t.Run("the plugin's clock decides the tolerance", func(t *testing.T) {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.paidEvent(p.ID)
		header := sign(body, time.Now(), testSecret)
		e.now.Advance(6 * time.Minute)
		defer e.now.Advance(-6 * time.Minute)
		if _, err := e.webhook(body, header); !errors.Is(err, payment.ErrInvalidSignature) {
			t.Errorf("HandleWebhook 6 minutes later = %v, want payment.ErrInvalidSignature", err)
		}
	})
}

func TestWebhookSecretRotation(t *testing.T) {
	e := serve(t, func(s map[string]any) { s["webhook_secrets"] = []string{testSecret, testSecret2} })
	for i, secret := range []string{testSecret, testSecret2} {
		p := e.create(t, createRequest(newOrder(), rp150k))
		e.fake.setPaid(p.ID)
		body := e.fake.paidEvent(p.ID)
		if resp, err := e.webhook(body, sign(body, time.Now(), secret)); err != nil || resp.Event.Status != payment.StatusPaid {
			t.Errorf("signed with secret %d: %+v, %v", i, resp, err)
		}
	}
	// After the rotation the old secret is removed; its signatures fail.
	if _, err := e.h.Configure(context.Background(), map[string]any{
		"secret_key": testKey, "webhook_secrets": []string{testSecret2}, "api_base_url": e.fake.URL(),
	}); err != nil {
		t.Fatal(err)
	}
	p := e.create(t, createRequest(newOrder(), rp150k))
	e.fake.setPaid(p.ID)
	body := e.fake.paidEvent(p.ID)
	if _, err := e.webhook(body, sign(body, time.Now(), testSecret)); !errors.Is(err, payment.ErrInvalidSignature) {
		t.Errorf("old secret after rotation = %v, want payment.ErrInvalidSignature", err)
	}
}

// Secrets never reach the log, at any level, whatever happens.
func TestNoSecretsInLogs(t *testing.T) {
	e := serve(t, func(s map[string]any) { s["webhook_secrets"] = []string{testSecret, testSecret2} })
	ctx := context.Background()
	p := e.create(t, createRequest(newOrder(), rp150k))
	e.get(t, p.ID)
	e.fake.setPaid(p.ID)
	body := e.fake.paidEvent(p.ID)
	_, _ = e.signed(body)
	_, _ = e.signed(body)
	_, _ = e.webhook(body, sign(body, time.Now(), "whsec_wrongwrongwrong"))
	_, _ = e.gw.GetPayment(ctx, &payment.GetPaymentRequest{ID: "cs_test_missing"})
	e.fake.failNext(500, 500)
	_, _ = e.gw.CreatePayment(ctx, createRequest(newOrder(), rp150k))
	e.fake.setKey("sk_test_51AnotherAccount000000000000")
	_, _ = e.gw.CreatePayment(ctx, createRequest(newOrder(), rp150k))
	_, _ = e.h.Configure(ctx, map[string]any{"secret_key": testKey + "!", "webhook_secrets": []string{testSecret}})
	_, _ = e.h.Plugin().CheckHealth(ctx, &sdk.CheckHealthRequest{})

	log := e.log.String()
	if !strings.Contains(log, "checkout session created") || !strings.Contains(log, `"component":"stripe-go"`) {
		t.Fatalf("the log capture missed the plugin's lines:\n%s", log)
	}
	for _, secret := range []string{testKey, testSecret, testSecret2, strings.TrimPrefix(testKey, "sk_test_"), strings.TrimPrefix(testSecret, "whsec_")} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a secret (%s...):\n%s", secret[:10], log)
		}
	}
}

func TestRedact(t *testing.T) {
	got := redact("key sk_live_abcDEF123456 and whsec_xyz12345 and rk_test_Q1w2e3r4 and my-own-secret", []string{"my-own-secret"})
	want := "key sk_[redacted] and whsec_[redacted] and rk_[redacted] and [redacted]"
	if got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}
