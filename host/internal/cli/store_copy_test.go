package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// copyTestJob is a job kind of the copy test: its args, tags and unique
// key go through the copy's conversions of River's columns.
type copyTestJob struct {
	Customer int64 `json:"customer"`
}

func (copyTestJob) Kind() string { return "copy_test" }

type copyTestWorker struct {
	river.WorkerDefaults[copyTestJob]
	done chan int64
}

func (w *copyTestWorker) Work(_ context.Context, j *river.Job[copyTestJob]) error {
	w.done <- j.Args.Customer
	return nil
}

const copyCustomers = 10000

// seedCopySource fills an SQLite store as an install that ran for a while:
// a location, plans, 10,000 customers, invoices, payments, plugin settings
// and records, audit entries, users and queued jobs. It returns the sum of
// the payments' amounts.
func seedCopySource(t *testing.T, dir string, cip *store.Cipher) (payments int64) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	err = st.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		loc := &store.Location{Name: "main"}
		if err := q.CreateLocation(ctx, loc); err != nil {
			return err
		}
		var plans []*store.Plan
		for i, price := range []int64{5000, 150000, 250000} {
			p := &store.Plan{Name: fmt.Sprintf("Plan %d", i), Kind: store.PlanPPPoE, Validity: 30 * 24 * time.Hour, Price: price, Currency: "IDR", Active: true}
			if err := q.CreatePlan(ctx, p); err != nil {
				return err
			}
			plans = append(plans, p)
		}
		for i := 1; i <= copyCustomers; i++ {
			c := &store.Customer{Name: fmt.Sprintf("Customer %d", i), RouterUsername: fmt.Sprintf("c%05d", i), RouterPassword: "pw-" + fmt.Sprint(i), LocationID: loc.ID}
			if err := q.CreateCustomer(ctx, c, cip); err != nil {
				return err
			}
			if i%10 != 0 {
				continue
			}
			plan := plans[i%len(plans)]
			inv := &store.Invoice{CustomerID: c.ID, PlanID: plan.ID, Amount: plan.Price, Currency: "IDR"}
			if err := q.CreateInvoice(ctx, inv); err != nil {
				return err
			}
			if i%20 == 0 {
				p := &store.Payment{InvoiceID: inv.ID, Gateway: "payment-manual", ExternalID: fmt.Sprintf("ext-%d", i), Amount: inv.Amount, Currency: "IDR", Status: store.PaymentPaid, RawEvent: `{"ok":true}`}
				if err := q.RecordPayment(ctx, p); err != nil {
					return err
				}
				payments += p.Amount
			}
			if _, err := q.AppendAudit(ctx, &store.AuditEntry{EventID: fmt.Sprintf("ev-%d", i), OccurredAt: time.Now(), Actor: "user:ana", Action: "customer.create", ResourceType: "customer", ResourceID: fmt.Sprint(c.ID), Outcome: "ok", Metadata: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
				return err
			}
		}
		if err := q.SavePluginSettings(ctx, "payment-manual", []byte(`{"bank":"BCA","secret":"s3"}`), []string{"secret"}, "user:ana", cip); err != nil {
			return err
		}
		for i := range 50 {
			if err := q.SetPluginRecord(ctx, "payment-manual", fmt.Sprintf("replay/%d", i), []byte{0, byte(i), 0xff}, time.Hour); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := auth.NewUser(ctx, auth.HashPassword, "ana", "a long password 1", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Q().CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.CreateToken(ctx, st, u.ID, "backup script", time.Time{}); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &copyTestWorker{})
	queue, err := jobs.New(st, workers, nil, jobs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 3; i++ {
		if _, err := queue.Insert(ctx, copyTestJob{Customer: i}, &river.InsertOpts{Tags: []string{"copy", "job-" + fmt.Sprint(i)}, UniqueOpts: river.UniqueOpts{ByArgs: true}}); err != nil {
			t.Fatal(err)
		}
	}
	return payments
}

// TestStoreCopy moves an SQLite install with 10,000 customers into a fresh
// PostgreSQL database, checks the verification, and runs the host's store
// and job queue on the copy; a second copy into the now full database is
// refused, naming a table.
func TestStoreCopy(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set", storetest.EnvPostgres)
	}
	ctx := context.Background()
	cip, err := store.NewCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	paid := seedCopySource(t, dir, cip)
	url := storetest.PostgresURL(t)

	var stdout, stderr bytes.Buffer
	if code := Execute([]string{"store", "copy", "--from", dir, "--to", url, "--quiet"}, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("store copy: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("store copy printed:\n%s%s", stderr.String(), out)
	for _, want := range []string{
		fmt.Sprintf("customers                 %d", copyCustomers),
		fmt.Sprintf("amount=%d", paid),
		"plugin_records", "audit_log", "river_job", "plugin_settings",
		"users              1       1", "api_tokens         1       1",
		"copied and verified",
	} {
		if !strings.Contains(out, want) && !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("the verification does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "DIFFERS") || strings.Contains(out, "river_migration") || strings.Contains(out, "mikrobill_schema_version") {
		t.Errorf("the verification:\n%s", out)
	}

	// The host's store on the copy: the rows, the encrypted password, new ids after the copied ones.
	pg, err := store.Open(ctx, store.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if applied, err := pg.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Fatalf("migrate the copy: %v, %v (want nothing left to apply)", applied, err)
	}
	c, err := pg.Q().GetCustomer(ctx, 9999, cip)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != 9999 || c.Name != "Customer 9999" || c.RouterPassword != "pw-9999" {
		t.Errorf("customer 9999 on the copy: %+v", c)
	}
	next := &store.Customer{Name: "After the move", RouterUsername: "after", LocationID: c.LocationID}
	if err := pg.Q().CreateCustomer(ctx, next, cip); err != nil {
		t.Fatal(err)
	}
	if next.ID != copyCustomers+1 {
		t.Errorf("the first customer after the copy got id %d, want %d", next.ID, copyCustomers+1)
	}
	if v, err := pg.Q().GetPluginRecord(ctx, "payment-manual", "replay/7"); err != nil || !bytes.Equal(v, []byte{0, 7, 0xff}) {
		t.Errorf("plugin record replay/7 = %v, %v", v, err)
	}
	if s, err := pg.Q().LoadPluginSettings(ctx, "payment-manual", cip); err != nil || !strings.Contains(string(s), `"s3"`) {
		t.Errorf("plugin settings on the copy = %s, %v", s, err)
	}

	// The job queue on the copy runs the copied jobs.
	w := &copyTestWorker{done: make(chan int64, 3)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	queue, err := jobs.New(pg, workers, nil, jobs.Config{PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	list, err := queue.List(ctx, river.NewJobListParams().Kinds("copy_test"))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Jobs) != 3 || len(list.Jobs[0].Tags) != 2 || list.Jobs[0].Tags[0] != "copy" {
		t.Fatalf("copied jobs: %+v", list.Jobs)
	}
	if err := queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = queue.Stop(context.Background()) }()
	seen := map[int64]bool{}
	timeout := time.After(30 * time.Second)
	for len(seen) < 3 {
		select {
		case n := <-w.done:
			seen[n] = true
		case <-timeout:
			t.Fatalf("the copied jobs did not run on PostgreSQL; ran %v", seen)
		}
	}
	if _, err := queue.Insert(ctx, copyTestJob{Customer: 1}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}); err != nil {
		t.Fatal(err)
	}

	// A second copy into the full database is refused and names a table.
	stdout.Reset()
	stderr.Reset()
	if code := Execute([]string{"store", "copy", "--from", dir, "--to", url, "--quiet"}, &stdout, &stderr, nil); code == 0 {
		t.Fatalf("a copy into a full database succeeded:\n%s", stdout.String())
	}
	if msg := stderr.String(); !strings.Contains(msg, "holds") || !strings.Contains(msg, "empty database") {
		t.Errorf("refusal: %s", msg)
	}
}

// TestStoreCopyRefusesAStoreInUse: while a host's job queue leads on the
// SQLite file, the copy says to stop it.
func TestStoreCopyRefusesAStoreInUse(t *testing.T) {
	st := storetest.SQLite(t)
	runQueueOn(t, st)
	dir := strings.TrimSuffix(st.Where(), "/"+store.FileName)
	var stdout, stderr bytes.Buffer
	if code := Execute([]string{"store", "copy", "--from", dir, "--to", "postgres://127.0.0.1:1/none", "--quiet"}, &stdout, &stderr, nil); code == 0 || !strings.Contains(stderr.String(), "stop it first") {
		t.Errorf("copy from a store in use: exit %d, %s", code, stderr.String())
	}
}

// runQueueOn runs a job queue on st, as a host does, until the test ends,
// and waits until st shows as in use (its leader's lease), saying to stop
// the host.
func runQueueOn(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := jobs.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &copyTestWorker{})
	queue, err := jobs.New(st, workers, nil, jobs.Config{PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = queue.Stop(context.Background()) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := st.InUse(ctx)
		if errors.Is(err, store.ErrInUse) {
			if !strings.Contains(err.Error(), "stop it first") {
				t.Errorf("InUse: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the running queue never showed as using the store")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
