package billing_test

import (
	"context"
	"os"
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
	if n := creditedOf(t, 20, payID, e.svc, other); n != 1 {
		t.Errorf("%d of 20 webhooks to two hosts credited, want 1", n)
	}
	if n, _ := st1.Q().InvoiceCredits(ctx, inv.ID); n != 1 {
		t.Errorf("%d credits", n)
	}
	e.waitJobs("provision", "notify")
	if n := e.count("provision", "completed"); n != 1 {
		t.Errorf("%d provision jobs, want 1", n)
	}
}
