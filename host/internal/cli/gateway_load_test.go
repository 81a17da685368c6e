package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// paidInvoice is an invoice whose payment has started and is paid at the
// gateway, and the webhook the gateway sends for it.
type paidInvoice struct {
	id       int64
	number   string
	customer string // the router login
	body     []byte
}

// gatewayLoad plays a payment gateway, for the scenarios and the chaos
// tests alike: senders goroutines post each invoice's webhook until a host
// answers 2xx (every 100 ms, until the deadline), check the invoice is paid
// at that moment, and post it once more, as gateways repeat notifications.
// Each sender waits pace before its next invoice, so the load lasts as
// long as the faults do.
type gatewayLoad struct {
	senders  int
	pace     time.Duration
	deadline time.Time // no webhook is posted again after it
	// post sends the invoice's webhook once and returns the status and the
	// body of the answer (0: no answer; sendWebhook).
	post func(inv paidInvoice) (int, []byte, error)
	// paid reads the invoice: paid or not, and whether it could be read (a
	// read that failed has failed the test, saying why).
	paid func(inv paidInvoice) (paid, read bool)
}

// sendWebhook posts a webhook's JSON body with its signature header and
// returns the answer's status and body, or why there was none.
func sendWebhook(client *http.Client, url string, body []byte, header, signature string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(header, signature)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, raw, err
}

// gatewayResult is what the gateway saw.
type gatewayResult struct {
	mu       sync.Mutex
	statuses map[int]int // answers by status (0: no answer)
	// neverAcked: webhooks no host answered 2xx before the deadline.
	neverAcked []string
	// unpaidWhenAcked: invoices not paid when their webhook got its 2xx.
	unpaidWhenAcked []string
	internal        []string // bodies of 500 answers
}

// run sends every invoice's webhook and returns what the gateway saw.
func (l gatewayLoad) run(invs []paidInvoice) *gatewayResult {
	res := &gatewayResult{statuses: map[int]int{}}
	post := func(inv paidInvoice) int {
		code, raw, _ := l.post(inv)
		res.mu.Lock()
		res.statuses[code]++
		if code == http.StatusInternalServerError {
			res.internal = append(res.internal, string(raw))
		}
		res.mu.Unlock()
		return code
	}
	work := make(chan paidInvoice)
	var wg sync.WaitGroup
	for range l.senders {
		wg.Go(func() {
			for inv := range work {
				time.Sleep(l.pace)
				acked := false
				for time.Now().Before(l.deadline) {
					if code := post(inv); code >= 200 && code < 300 {
						acked = true
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if !acked {
					res.mu.Lock()
					res.neverAcked = append(res.neverAcked, inv.number)
					res.mu.Unlock()
					continue
				}
				if paid, read := l.paid(inv); read && !paid {
					res.mu.Lock()
					res.unpaidWhenAcked = append(res.unpaidWhenAcked, inv.number)
					res.mu.Unlock()
				}
				post(inv) // the gateway's repeat: answered, never credited twice
			}
		})
	}
	for _, inv := range invs {
		work <- inv
	}
	close(work)
	wg.Wait()
	return res
}

// check fails the test for what the gateway saw wrong: a webhook never
// acknowledged, an invoice not paid when its webhook was, an answer 500.
func (res *gatewayResult) check(t *testing.T) {
	t.Helper()
	t.Logf("answers by status (0: no answer): %v", res.statuses)
	if len(res.neverAcked) > 0 {
		t.Errorf("%d webhooks never got a 2xx before the deadline: %v", len(res.neverAcked), res.neverAcked)
	}
	if len(res.unpaidWhenAcked) > 0 {
		t.Errorf("%d invoices were not paid when their webhook got its 2xx (credit left to reconciliation): %v", len(res.unpaidWhenAcked), res.unpaidWhenAcked)
	}
	if len(res.internal) > 0 {
		t.Errorf("%d answers were 500; a failure must answer 503 (retry) or a clear 4xx: %q", len(res.internal), res.internal)
	}
}

// checkCreditedOnce reads the store and fails unless every invoice is paid
// and credited once.
func checkCreditedOnce(t *testing.T, st *store.Store, invs []paidInvoice) {
	t.Helper()
	ctx := context.Background()
	bad := 0
	for _, inv := range invs {
		got, err := st.Q().GetInvoice(ctx, inv.id)
		if err != nil {
			t.Fatalf("invoice %s: %v", inv.number, err)
		}
		n, err := st.Q().InvoiceCredits(ctx, inv.id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.InvoicePaid || n != 1 {
			bad++
			t.Errorf("invoice %s: %s, credited %d times; want paid, credited once", inv.number, got.Status, n)
		}
	}
	if bad == 0 {
		t.Logf("%d invoices: each paid and credited once", len(invs))
	}
}
