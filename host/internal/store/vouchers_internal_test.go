package store

// An internal test: it scripts voucherRandom to force code collisions,
// which real randomness never produces on demand. It cannot use storetest
// (which imports this package), so it opens its stores itself. It must not
// run in parallel with tests that make vouchers.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// scripted yields its chunks in turn, one per Read (each chunk fills one
// NewVoucherCode buffer).
type scripted struct{ chunks [][]byte }

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, errors.New("script exhausted")
	}
	n := copy(p, s.chunks[0])
	s.chunks = s.chunks[1:]
	return n, nil
}

// codeBytes are the random bytes that make the code of one character c
// repeated (each byte below the rejection limit, so all are used).
func codeBytes(c byte) []byte {
	return bytes.Repeat([]byte{byte(bytes.IndexByte([]byte(VoucherAlphabet), c))}, 2*VoucherCodeLength)
}

func TestVoucherCodeCollisionsAreRedrawn(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		q := s.Q()
		var loc, plan int64
		if err := q.db.QueryRow(ctx, "INSERT INTO router_locations (name, created_at, updated_at) VALUES ('main', 1, 1) RETURNING id").Scan(&loc); err != nil {
			t.Fatal(err)
		}
		if err := q.db.QueryRow(ctx, `INSERT INTO plans (name, kind, validity_seconds, price_amount, currency, created_at, updated_at)
			VALUES ('Day', 'hotspot', 86400, 5000, 'IDR', 1, 1) RETURNING id`).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		saved := voucherRandom
		defer func() { voucherRandom = saved }()

		// A, then A again (a collision inside the batch), then B.
		voucherRandom = &scripted{[][]byte{codeBytes('A'), codeBytes('A'), codeBytes('B')}}
		vs, err := q.CreateVoucherBatch(ctx, &VoucherBatch{PlanID: plan, LocationID: loc}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if vs[0].Code != "AAAAAAAAAA" || vs[1].Code != "BBBBBBBBBB" {
			t.Errorf("codes %q, %q", vs[0].Code, vs[1].Code)
		}

		// Collisions with another batch's codes, inside a caller's
		// transaction (on PostgreSQL a failed INSERT would abort it).
		voucherRandom = &scripted{[][]byte{codeBytes('A'), codeBytes('B'), codeBytes('C')}}
		err = s.Tx(ctx, func(tx *Tx) error {
			vs, err := tx.Q().CreateVoucherBatch(ctx, &VoucherBatch{PlanID: plan, LocationID: loc}, 1)
			if err == nil && vs[0].Code != "CCCCCCCCCC" {
				t.Errorf("code %q, want CCCCCCCCCC", vs[0].Code)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		// A code space that has run out: ErrConflict, nothing left behind.
		chunks := make([][]byte, maxCodeAttempts)
		for i := range chunks {
			chunks[i] = codeBytes('A')
		}
		voucherRandom = &scripted{chunks}
		if _, err := q.CreateVoucherBatch(ctx, &VoucherBatch{PlanID: plan, LocationID: loc}, 1); !errors.Is(err, ErrConflict) {
			t.Errorf("endless collisions: %v, want ErrConflict", err)
		}
		if _, total, _ := q.ListVoucherBatches(ctx, Page{}); total != 2 {
			t.Errorf("%d batches, want 2 (the failed one rolled back)", total)
		}
	})
}

// eachBackend runs fn on a migrated SQLite store and, when
// MIKROBILL_TEST_POSTGRES_URL is set, on a PostgreSQL database of its own
// (what storetest.Each does, which this package's own tests cannot import).
func eachBackend(t *testing.T, fn func(t *testing.T, s *Store)) {
	open := func(t *testing.T, o Options) *Store {
		ctx := context.Background()
		s, err := Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("sqlite", func(t *testing.T) { fn(t, open(t, Options{DataDir: t.TempDir()})) })
	t.Run("postgres", func(t *testing.T) {
		admin := os.Getenv("MIKROBILL_TEST_POSTGRES_URL")
		if admin == "" {
			t.Skip("MIKROBILL_TEST_POSTGRES_URL is not set")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := "mb_test_" + hex.EncodeToString(b[:])
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c, err := pgx.Connect(context.Background(), admin)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close(context.Background())
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		})
		u, err := url.Parse(admin)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		fn(t, open(t, Options{URL: u.String(), MaxConns: 4}))
	})
}
