package billing_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestWebhookToTwoHostsCreditsOnce: the same signed webhook, sent 20 times
// at once, half to each of two hosts (billing services with their own
// connection pools on one PostgreSQL database): the invoice is credited
// once, and provisioned once.
func TestWebhookToTwoHostsCreditsOnce(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set: this PostgreSQL-only test is skipped", storetest.EnvPostgres)
	}
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	st1 := storetest.PostgresAt(t, url)
	e := setup(t, st1)
	other, err := billing.NewWithQueue(storetest.PostgresAt(t, url), e.cipher, e.plugs, e.cfg, nil, billing.QueueConfig{Jobs: jobs.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	inv, payID := e.invoiceAndPayment()
	var credited atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		svc := e.svc
		if i%2 == 1 {
			svc = other
		}
		wg.Go(func() {
			res, err := webhookTo(svc, payID, "paid")
			if err != nil {
				t.Error(err)
				return
			}
			if res.Credited {
				credited.Add(1)
			}
		})
	}
	wg.Wait()
	if credited.Load() != 1 {
		t.Errorf("%d of 20 webhooks to two hosts credited, want 1", credited.Load())
	}
	if n, _ := st1.Q().InvoiceCredits(ctx, inv.ID); n != 1 {
		t.Errorf("%d credits", n)
	}
	e.waitJobs("provision", "notify")
	if n := e.count("provision", "completed"); n != 1 {
		t.Errorf("%d provision jobs, want 1", n)
	}
}
