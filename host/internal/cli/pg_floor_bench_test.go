package cli

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// BenchmarkPostgresWebhookFloor measures what PostgreSQL alone does with
// the statements of a paid webhook, on this machine: no HTTP, no host, no
// plugins, no job workers; only a pgx pool of the host's default size (10
// connections, database.max_conns) and 32 senders, as in
// BenchmarkWebhookConcurrentRatio. It answers whether the 1,000
// paid webhooks a second on PostgreSQL can be had on this machine by any
// host that writes what the host writes.
//
// Three kinds of work, alternating round by round (MIKROBILL_BENCH_ROUNDS,
// default 3, of MIKROBILL_BENCH_INVOICES webhooks each, default 4000):
//
//   - "select 1": one trivial round trip a webhook, the baseline;
//   - "statements": the statements a paid webhook makes the host send
//     (from PostgreSQL's statement log of BenchmarkWebhookConcurrentRatio,
//     2026-12-07): the gateway plugin's replay record read and written
//     through the host's durable store, the invoice looked up by its
//     number, then one transaction with the payment, the invoice's status,
//     the credit, the plan, the customer's subscription looked up and made,
//     the invoice's link to it, and the three jobs (provision, notify,
//     audit) in River's insert; 13 round trips;
//   - "one call": the same reads and writes in one PL/pgSQL function, one
//     round trip a webhook: what a host that sent nothing but that could
//     reach at most.
//
// Each prints webhooks a second, p99, and the machine's CPU per webhook
// (PostgreSQL's processes, this process). The tables are analyzed after
// each round, as autovacuum does (a server with autovacuum off, as the
// test machines' is, keeps the plans of empty tables, and each round is
// slower than the last). Every round checks what it
// wrote (a credit, a subscription and three jobs per webhook), so a
// statement that failed to write cannot pass for a fast one.
func BenchmarkPostgresWebhookFloor(b *testing.B) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		b.Skipf("%s is not set: this benchmark measures PostgreSQL (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)", storetest.EnvPostgres)
	}
	n, rounds := 4000, 3
	if v, err := strconv.Atoi(os.Getenv("MIKROBILL_BENCH_INVOICES")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("MIKROBILL_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	ctx := context.Background()
	url := storetest.PostgresURL(b)
	st := storetest.PostgresAt(b, url)            // the host's migrations
	if err := jobs.Migrate(ctx, st); err != nil { // River's
		b.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 10 // database.max_conns' default
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	invoices := 2 * rounds * n * b.N
	for _, q := range []string{
		`INSERT INTO router_locations (name, description, plugin, created_at, updated_at) VALUES ('main', '', 'mikrotik', 0, 0)`,
		`INSERT INTO plans (name, kind, rate_limit, validity_seconds, price_amount, currency, created_at, updated_at)
			VALUES ('Home 10M', 'pppoe', '5M/10M', 2592000, 150000, 'IDR', 0, 0)`,
		// Invoice i (and its customer, id i) is INV-2026-000000i.
		`INSERT INTO customers (id, name, phone, router_username, router_password_enc, location_id, created_at, updated_at) OVERRIDING SYSTEM VALUE
			SELECT g, 'Customer ' || g, '+62811' || g, 'cust' || g, 'sealed', (SELECT min(id) FROM router_locations), 0, 0
			FROM generate_series(1, ` + strconv.Itoa(invoices) + `) g`,
		`INSERT INTO invoices (id, number, customer_id, plan_id, amount, currency, status, gateway, created_at, updated_at, new_subscription) OVERRIDING SYSTEM VALUE
			SELECT g, 'INV-2026-' || lpad(g::text, 7, '0'), g, (SELECT min(id) FROM plans), 150000, 'IDR', 'unpaid', 'payment-template', 0, 0, true
			FROM generate_series(1, ` + strconv.Itoa(invoices) + `) g`,
		`SELECT setval(pg_get_serial_sequence('customers', 'id'), ` + strconv.Itoa(invoices) + `), setval(pg_get_serial_sequence('invoices', 'id'), ` + strconv.Itoa(invoices) + `)`,
		floorFunction,
		`VACUUM ANALYZE`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatalf("prepare the floor's database: %v\n%s", err, q)
		}
	}
	var planID int64
	if err := pool.QueryRow(ctx, `SELECT min(id) FROM plans`).Scan(&planID); err != nil {
		b.Fatal(err)
	}
	kinds := []struct {
		name string
		one  func(ctx context.Context, c *pgxpool.Pool, inv, plan int64) error
	}{
		{"select 1", func(ctx context.Context, c *pgxpool.Pool, _, _ int64) error {
			_, err := c.Exec(ctx, `SELECT 1`)
			return err
		}},
		{"statements", floorStatements},
		{"one call", func(ctx context.Context, c *pgxpool.Pool, inv, plan int64) error {
			_, err := c.Exec(ctx, `SELECT floor_webhook($1, $2, $3)`, inv, plan, time.Now().UnixMilli())
			return err
		}},
	}
	next := int64(0) // the last invoice used
	for range b.N {
		results := map[string][]floorResult{}
		for round := range rounds {
			for _, k := range kinds {
				from := next
				if k.name != "select 1" {
					next += int64(n)
				}
				r := measureFloor(b, pool, n, func(ctx context.Context, i int) error { return k.one(ctx, pool, from+int64(i)+1, planID) })
				if k.name != "select 1" {
					checkFloor(b, pool, from, n)
					// What autovacuum's ANALYZE does on a server that runs
					// it (the default): without it the plans stay those of
					// the empty tables, and every round is slower than the
					// last (the subscription's look-up and the invoice's
					// link to it read more as the tables grow).
					if _, err := pool.Exec(context.Background(), `ANALYZE`); err != nil {
						b.Fatal(err)
					}
				}
				results[k.name] = append(results[k.name], r)
				fmt.Printf("(g) round %d, %s: %s\n", round+1, k.name, r)
			}
		}
		for _, k := range kinds {
			rs := results[k.name]
			var rate, pg, self float64
			for _, r := range rs {
				rate += r.rate / float64(len(rs))
				pg += r.postgresMS / float64(len(rs))
				self += r.selfMS / float64(len(rs))
			}
			base := results["select 1"]
			ratio := 0.0
			for i := range rs {
				ratio += rs[i].rate / base[i].rate / float64(len(rs))
			}
			fmt.Printf("(g) %s, mean of %d rounds: %.0f webhooks/s (%.2fx select 1), PostgreSQL %.2f ms of CPU a webhook, this process %.2f\n", k.name, len(rs), rate, ratio, pg, self)
			unit := strings.ReplaceAll(k.name, " ", "-")
			b.ReportMetric(rate, "webhooks/s/"+unit)
			b.ReportMetric(pg, "postgres-cpu-ms/webhook/"+unit)
		}
	}
}

type floorResult struct {
	rate               float64
	p99                time.Duration
	busyMS, postgresMS float64
	selfMS, busyPct    float64
	machineOK          bool
}

func (r floorResult) String() string {
	s := fmt.Sprintf("%.0f/s, p99 %s", r.rate, r.p99)
	if r.machineOK {
		s += fmt.Sprintf("; the machine's CPU a webhook %.2f ms (%.0f%% of the cores' time): PostgreSQL %.2f, this process %.2f", r.busyMS, r.busyPct, r.postgresMS, r.selfMS)
	}
	return s
}

// measureFloor runs one(i) for i in [0, n) from webhookSenders goroutines
// and measures the rate, the latency and the machine's CPU.
func measureFloor(b *testing.B, pool *pgxpool.Pool, n int, one func(ctx context.Context, i int) error) floorResult {
	b.Helper()
	ctx := context.Background()
	lat := make([]time.Duration, n)
	var idx atomic.Int64
	var failed atomic.Value
	m0, ok0 := readMachineCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for range webhookSenders {
		wg.Go(func() {
			for {
				i := int(idx.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				if err := one(ctx, i); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	m1, ok1 := readMachineCPU()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	r := floorResult{rate: float64(n) / took.Seconds(), p99: percentile(lat, 99)}
	if ok0 && ok1 {
		m := m1.sub(m0)
		r.machineOK = true
		r.busyMS, r.postgresMS, r.selfMS = perItem(m.busy, n), perItem(m.postgres, n), perItem(m.self, n)
		r.busyPct = 100 * float64(m.busy) / float64(max(m.busy+m.idle, 1))
	}
	return r
}

// checkFloor fails the benchmark unless the invoices (from, from+n] are
// each paid once, credited once, linked to a subscription, and have their
// three jobs.
func checkFloor(b *testing.B, pool *pgxpool.Pool, from int64, n int) {
	b.Helper()
	var paid, credits, linked, jobs int
	err := pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM invoices WHERE id > $1 AND id <= $2 AND status = 'paid'),
		(SELECT count(*) FROM invoice_credits WHERE invoice_id > $1 AND invoice_id <= $2),
		(SELECT count(*) FROM invoices WHERE id > $1 AND id <= $2 AND subscription_id IS NOT NULL),
		(SELECT count(*) FROM river_job WHERE (args->>'invoice_id')::bigint > $1 AND (args->>'invoice_id')::bigint <= $2
			OR args->>'resource_id' IN (SELECT number FROM invoices WHERE id > $1 AND id <= $2))`,
		from, from+int64(n)).Scan(&paid, &credits, &linked, &jobs)
	if err != nil {
		b.Fatal(err)
	}
	if paid != n || credits != n || linked != n || jobs != 3*n {
		b.Fatalf("invoices %d to %d: %d paid, %d credits, %d with a subscription, %d jobs; want %d, %d, %d, %d",
			from+1, from+int64(n), paid, credits, linked, jobs, n, n, n, 3*n)
	}
}

// The statements below are those of PostgreSQL's statement log for one paid
// webhook (BenchmarkWebhookConcurrentRatio on payment-template, 2026-12-07),
// with their texts as the host sends them; pgx prepares each once per
// connection, as it does for the host.
const (
	floorReplayGet = `SELECT value FROM plugin_records
			WHERE plugin = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`
	floorReplayPut = `INSERT INTO plugin_records (plugin, key, value, expires_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
				created_at = excluded.created_at, updated_at = excluded.updated_at
			WHERE plugin_records.expires_at IS NOT NULL AND plugin_records.expires_at <= excluded.updated_at`
	floorInvoiceByNumber = `SELECT id, number, customer_id, subscription_id, plan_id, amount, currency, status, gateway, payment_url, due_at, paid_at, created_at, updated_at, kind, new_subscription, period_start FROM invoices WHERE number = $1`
	floorPayment         = `INSERT INTO payments (invoice_id, gateway, external_id, amount, currency, status, raw_event, create_response, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (gateway, external_id) DO UPDATE SET
				status = CASE WHEN payments.status = 'paid' AND excluded.status <> 'refunded' THEN payments.status ELSE excluded.status END,
				raw_event = CASE WHEN excluded.raw_event <> '' THEN excluded.raw_event ELSE payments.raw_event END,
				create_response = CASE WHEN excluded.create_response <> '' THEN excluded.create_response ELSE payments.create_response END,
				updated_at = excluded.updated_at
			RETURNING id, status, created_at, updated_at`
	floorInvoicePaid = `UPDATE invoices SET status = $1, paid_at = $2, updated_at = $3 WHERE id = $4 AND status IN ($5, $6, $7)`
	floorCredit      = `INSERT INTO invoice_credits (invoice_id, payment_id, voucher_id, credited_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (invoice_id) DO NOTHING`
	floorPlan    = `SELECT id, name, kind, rate_limit, shared_users, time_limit_seconds, data_limit_bytes, validity_seconds, price_amount, currency, profile, isolation_profile, active, created_at, updated_at, billing_type FROM plans WHERE id = $1`
	floorSubFind = `SELECT id FROM subscriptions WHERE customer_id = $1 AND plan_id = $2 AND status IN ($3, $4, $5)
			ORDER BY CASE status WHEN $6 THEN 0 ELSE 1 END, id DESC LIMIT 1`
	floorSubMake = `INSERT INTO subscriptions (customer_id, plan_id, status, starts_at, expires_at, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`
	floorInvoiceSub = `UPDATE invoices SET subscription_id = $1, updated_at = $2 WHERE id = $3`
	// floorJobs is River's JobInsertFastMany (river v0.2x, riverpgxv5).
	floorJobs = `WITH raw_job_data AS (
	    SELECT
	        unnest($1::bigint[]) AS id,
	        unnest($2::jsonb[]) AS args,
	        unnest($3::timestamptz[]) AS created_at,
	        unnest($4::text[]) AS kind,
	        unnest($5::smallint[]) AS max_attempts,
	        unnest($6::jsonb[]) AS metadata,
	        unnest($7::smallint[]) AS priority,
	        unnest($8::text[]) AS queue,
	        unnest($9::timestamptz[]) AS scheduled_at,
	        unnest($10::text[]) AS state,
	        unnest($11::text[]) AS tags,
	        unnest($12::bytea[]) AS unique_key,
	        unnest($13::integer[]) AS unique_states
	)
	INSERT INTO river_job(id, args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags, unique_key, unique_states)
	SELECT
	    coalesce(nullif(id, 0), nextval('river_job_id_seq'::regclass)),
	    args,
	    coalesce(nullif(created_at, '0001-01-01 00:00:00 +0000'), now()) AS created_at,
	    kind,
	    max_attempts,
	    coalesce(metadata, '{}'::jsonb) AS metadata,
	    priority,
	    queue,
	    coalesce(nullif(scheduled_at, '0001-01-01 00:00:00 +0000'), now()) AS scheduled_at,
	    state::river_job_state,
	    string_to_array(tags, ',')::varchar(255)[],
	    nullif(unique_key, '')::bytea,
	    nullif(unique_states::integer, 0)::bit(8)
	FROM raw_job_data
	ON CONFLICT (unique_key)
	    WHERE unique_key IS NOT NULL
	        AND unique_states IS NOT NULL
	        AND river_job_state_in_bitmask(unique_states, state)
	    DO UPDATE SET kind = river_job.kind
	RETURNING
	    river_job.id, river_job.args, river_job.attempt, river_job.attempted_at, river_job.attempted_by, river_job.created_at, river_job.errors, river_job.finalized_at, river_job.kind, river_job.max_attempts, river_job.metadata, river_job.priority, river_job.queue, river_job.state, river_job.scheduled_at, river_job.tags, river_job.unique_key, river_job.unique_states,
	    (xmax != 0) AS unique_skipped_as_duplicate`
)

// floorArgs are a paid webhook's three jobs' arguments, as River stores
// them (provision, notify, audit), and their unique keys.
func floorArgs(inv, customer, sub int64, number string) ([]string, [][]byte) {
	args := []string{
		fmt.Sprintf(`{"invoice_id": %d, "subscription_id": %d}`, inv, sub),
		fmt.Sprintf(`{"key": "paid-%s", "template": "payment_received", "invoice_id": %d, "customer_id": %d, "subscription_id": %d}`, number, inv, customer, sub),
		fmt.Sprintf(`{"actor": "gateway:payment-template", "action": "invoice.paid", "outcome": "success", "event_id": "%024x", "metadata": {"how": "payment payment-template pay_%d", "amount": "150000 IDR", "expires_at": "2027-01-06T15:22:46Z", "subscription_id": "%d"}, "occurred_at": "2026-12-07T15:22:46.578168222Z", "resource_id": "%s", "resource_type": "invoice"}`, inv, inv, sub, number),
	}
	keys := make([][]byte, 3)
	for i, k := range []string{"provision", "notify", "audit"} {
		sum := sha256.Sum256([]byte(k + "/" + number))
		keys[i] = sum[:]
	}
	return args, keys
}

// floorStatements sends a paid webhook's statements for invoice inv, as
// the host does: three outside a transaction, then the credit's.
func floorStatements(ctx context.Context, c *pgxpool.Pool, inv, plan int64) error {
	now := time.Now()
	ms := now.UnixMilli()
	number := fmt.Sprintf("INV-2026-%07d", inv)
	key := []byte("replay:evt_" + strconv.FormatInt(inv, 10))
	rows, err := c.Query(ctx, floorReplayGet, "payment-template", key, ms)
	if err != nil {
		return err
	}
	rows.Close()
	if _, err := c.Exec(ctx, floorReplayPut, "payment-template", key, []byte("pay_"+strconv.FormatInt(inv, 10)), ms+7*24*3600*1000, ms, ms); err != nil {
		return err
	}
	invoice, err := scanValues(c.QueryRow(ctx, floorInvoiceByNumber, number), 17)
	if err != nil {
		return fmt.Errorf("invoice %s: %w", number, err)
	}
	id, customer := invoice[0].(int64), invoice[2].(int64)
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		var payID, created, updated int64
		var status string
		raw := `{"id":"evt_` + strconv.FormatInt(inv, 10) + `","type":"payment.succeeded","data":{"id":"pay_` + strconv.FormatInt(inv, 10) + `","order_id":"` + number + `","amount":150000,"currency":"IDR","status":"succeeded"}}`
		if err := tx.QueryRow(ctx, floorPayment, id, "payment-template", "pay_"+strconv.FormatInt(inv, 10), 150000, "IDR", "paid", raw, "", ms, ms).
			Scan(&payID, &status, &created, &updated); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, floorInvoicePaid, "paid", ms, ms, id, "unpaid", "failed", "expired"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, floorCredit, id, payID, nil, ms); err != nil {
			return err
		}
		if _, err := scanValues(tx.QueryRow(ctx, floorPlan, plan), 16); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, floorSubFind, customer, plan, "active", "isolated", "expired", "active")
		if err != nil {
			return err
		}
		rows.Close()
		var sub int64
		if err := tx.QueryRow(ctx, floorSubMake, customer, plan, "active", ms, ms+30*24*3600*1000, ms, ms).Scan(&sub); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, floorInvoiceSub, sub, ms, id); err != nil {
			return err
		}
		args, keys := floorArgs(id, customer, sub, number)
		times := []time.Time{now, now, now}
		jr, err := tx.Query(ctx, floorJobs, []int64{0, 0, 0}, args, times, []string{"provision", "notify", "audit"},
			[]int16{25, 25, 25}, []string{"{}", "{}", "{}"}, []int16{1, 1, 1}, []string{"default", "default", "default"}, times,
			[]string{"available", "available", "available"}, []string{"", "", ""}, keys, []int32{245, 245, 245})
		if err != nil {
			return err
		}
		for jr.Next() {
		}
		jr.Close()
		return jr.Err()
	})
}

// scanValues reads a row of n columns into their Go values, each decoded
// as the host decodes it into its struct.
func scanValues(row pgx.Row, n int) ([]any, error) {
	vals, dst := make([]any, n), make([]any, n)
	for i := range vals {
		dst[i] = &vals[i]
	}
	return vals, row.Scan(dst...)
}

// floorFunction does what floorStatements does, in one call.
const floorFunction = `CREATE FUNCTION floor_webhook(inv bigint, plan bigint, nowms bigint) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
	inv_number text := 'INV-2026-' || lpad(inv::text, 7, '0');
	rec bytea; i invoices; pl plans; pay_id bigint; sub bigint; found bigint;
BEGIN
	SELECT value INTO rec FROM plugin_records WHERE plugin = 'payment-template' AND key = convert_to('replay:evt_' || inv, 'UTF8') AND (expires_at IS NULL OR expires_at > nowms);
	INSERT INTO plugin_records (plugin, key, value, expires_at, created_at, updated_at)
		VALUES ('payment-template', convert_to('replay:evt_' || inv, 'UTF8'), convert_to('pay_' || inv, 'UTF8'), nowms + 604800000, nowms, nowms)
		ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, created_at = excluded.created_at, updated_at = excluded.updated_at
		WHERE plugin_records.expires_at IS NOT NULL AND plugin_records.expires_at <= excluded.updated_at;
	SELECT * INTO i FROM invoices WHERE number = inv_number;
	INSERT INTO payments (invoice_id, gateway, external_id, amount, currency, status, raw_event, create_response, created_at, updated_at)
		VALUES (i.id, 'payment-template', 'pay_' || inv, 150000, 'IDR', 'paid',
			'{"id":"evt_' || inv || '","type":"payment.succeeded","data":{"id":"pay_' || inv || '","order_id":"' || inv_number || '","amount":150000,"currency":"IDR","status":"succeeded"}}', '', nowms, nowms)
		ON CONFLICT (gateway, external_id) DO UPDATE SET updated_at = excluded.updated_at RETURNING id INTO pay_id;
	UPDATE invoices SET status = 'paid', paid_at = nowms, updated_at = nowms WHERE id = i.id AND status IN ('unpaid', 'failed', 'expired');
	INSERT INTO invoice_credits (invoice_id, payment_id, voucher_id, credited_at) VALUES (i.id, pay_id, NULL, nowms) ON CONFLICT (invoice_id) DO NOTHING;
	SELECT * INTO pl FROM plans WHERE id = plan;
	SELECT id INTO found FROM subscriptions WHERE customer_id = i.customer_id AND plan_id = plan AND status IN ('active', 'isolated', 'expired')
		ORDER BY CASE status WHEN 'active' THEN 0 ELSE 1 END, id DESC LIMIT 1;
	INSERT INTO subscriptions (customer_id, plan_id, status, starts_at, expires_at, created_at, updated_at)
		VALUES (i.customer_id, plan, 'active', nowms, nowms + 2592000000, nowms, nowms) RETURNING id INTO sub;
	UPDATE invoices SET subscription_id = sub, updated_at = nowms WHERE id = i.id;
	INSERT INTO river_job (args, kind, max_attempts, metadata, priority, queue, state, tags, unique_key, unique_states)
	SELECT a, k, 25, '{}', 1, 'default', 'available', '{}', sha256(convert_to(k || '/' || inv_number, 'UTF8')), 245::integer::bit(8)
	FROM (VALUES
		(jsonb_build_object('invoice_id', i.id, 'subscription_id', sub), 'provision'),
		(jsonb_build_object('key', 'paid-' || inv_number, 'template', 'payment_received', 'invoice_id', i.id, 'customer_id', i.customer_id, 'subscription_id', sub), 'notify'),
		(jsonb_build_object('actor', 'gateway:payment-template', 'action', 'invoice.paid', 'outcome', 'success', 'event_id', md5(inv_number),
			'metadata', jsonb_build_object('how', 'payment payment-template pay_' || inv, 'amount', '150000 IDR', 'expires_at', '2027-01-06T15:22:46Z', 'subscription_id', sub::text),
			'occurred_at', '2026-12-07T15:22:46.578168222Z', 'resource_id', inv_number, 'resource_type', 'invoice'), 'audit')) AS j(a, k)
	ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND unique_states IS NOT NULL AND river_job_state_in_bitmask(unique_states, state)
	DO UPDATE SET kind = river_job.kind;
	RETURN sub;
END $fn$`
