package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestMigrateAndErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cur, latest, err := s.SchemaVersion(ctx)
		if err != nil || cur != latest || latest < 1 {
			t.Fatalf("schema version %d of %d (%v)", cur, latest, err)
		}
		if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
			t.Errorf("a second Migrate applied %v (%v)", applied, err)
		}
		q := s.Q().DB()
		if _, err := q.Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, ?)", "x", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, ?)", "x", 2); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate key: %v, want ErrConflict", err)
		}
		var v int64
		if err := q.QueryRow(ctx, "SELECT value FROM sequences WHERE name = ?", "nope").Scan(&v); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing row: %v, want ErrNotFound", err)
		}
		if _, err := q.Exec(ctx, "INSERT INTO customers (name, router_username, router_password_enc, location_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)", "a", "a", "x", 999, 1, 1); !errors.Is(err, store.ErrReferenced) {
			t.Errorf("missing reference: %v, want ErrReferenced", err)
		}
		if _, err := q.Exec(ctx, "INSERT INTO plans (name, kind, validity_seconds, price_amount, currency, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", "p", "dialup", 1, 1, "IDR", 1, 1); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("check violation: %v, want ErrInvalid", err)
		}
		// A transaction rolls back on error and commits otherwise.
		boom := errors.New("boom")
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Q().DB().Exec(ctx, "UPDATE sequences SET value = 100 WHERE name = ?", "x"); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if err := q.QueryRow(ctx, "SELECT value FROM sequences WHERE name = ?", "x").Scan(&v); err != nil || v != 1 {
			t.Errorf("after rollback value = %d (%v), want 1", v, err)
		}
		if err := s.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.Q().DB().Exec(ctx, "UPDATE sequences SET value = 100 WHERE name = ?", "x")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := q.QueryRow(ctx, "SELECT value FROM sequences WHERE name = ?", "x").Scan(&v); err != nil || v != 100 {
			t.Errorf("after commit value = %d (%v), want 100", v, err)
		}
	})
}
