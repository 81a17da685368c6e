package store

import (
	"context"
	"testing"
)

// TestMigrationKeepsCreateResponsesApart (issue point 13): migration 3
// moves the create call's answer that older hosts stored in raw_event of a
// pending payment nothing has touched since into create_response, and
// leaves notifications where they are; its down migration puts it back.
func TestMigrationKeepsCreateResponsesApart(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p, closeDB, err := s.provider()
		if err != nil {
			t.Fatal(err)
		}
		defer closeDB()
		if _, err := p.DownTo(ctx, 2); err != nil {
			t.Fatalf("migrate down to 2: %v", err)
		}
		db := s.Q().db
		var loc, plan, cust, inv int64
		for _, step := range []struct {
			sql string
			dst *int64
		}{
			{"INSERT INTO router_locations (name, created_at, updated_at) VALUES ('main', 1, 1) RETURNING id", &loc},
			{"INSERT INTO plans (name, kind, validity_seconds, price_amount, currency, created_at, updated_at) VALUES ('Day', 'hotspot', 86400, 5000, 'IDR', 1, 1) RETURNING id", &plan},
		} {
			if err := db.QueryRow(ctx, step.sql).Scan(step.dst); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.QueryRow(ctx, "INSERT INTO customers (name, router_username, router_password_enc, location_id, created_at, updated_at) VALUES ('Ani', 'ani', 'x', ?, 1, 1) RETURNING id", loc).Scan(&cust); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `INSERT INTO invoices (number, customer_id, plan_id, amount, currency, status, created_at, updated_at)
			VALUES ('INV-1', ?, ?, 5000, 'IDR', 'unpaid', 1, 1) RETURNING id`, cust, plan).Scan(&inv); err != nil {
			t.Fatal(err)
		}
		for _, row := range []struct {
			ext, status, raw string
			created, updated int64
		}{
			{"created", "pending", `{"token":"snap"}`, 10, 10}, // only created: the create answer
			{"notified", "pending", `{"transaction_status":"pending"}`, 10, 20},
			{"paid", "paid", `{"transaction_status":"settlement"}`, 10, 10},
		} {
			if _, err := db.Exec(ctx, `INSERT INTO payments (invoice_id, gateway, external_id, amount, currency, status, raw_event, created_at, updated_at)
				VALUES (?, 'gw', ?, 5000, 'IDR', ?, ?, ?, ?)`, inv, row.ext, row.status, row.raw, row.created, row.updated); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for ext, want := range map[string][2]string{
			"created":  {"", `{"token":"snap"}`},
			"notified": {`{"transaction_status":"pending"}`, ""},
			"paid":     {`{"transaction_status":"settlement"}`, ""},
		} {
			got, err := s.Q().GetPaymentByExternalID(ctx, "gw", ext)
			if err != nil {
				t.Fatal(err)
			}
			if got.RawEvent != want[0] || got.CreateResponse != want[1] {
				t.Errorf("%s: raw_event %q create_response %q, want %q %q", ext, got.RawEvent, got.CreateResponse, want[0], want[1])
			}
		}
		if _, err := p.DownTo(ctx, 2); err != nil {
			t.Fatalf("migrate down again: %v", err)
		}
		var raw string
		if err := db.QueryRow(ctx, "SELECT raw_event FROM payments WHERE external_id = 'created'").Scan(&raw); err != nil || raw != `{"token":"snap"}` {
			t.Errorf("after the down migration: raw_event %q (%v), want the create answer back", raw, err)
		}
	})
}
