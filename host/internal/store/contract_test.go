package store_test

// The repository contract suite: every test here runs against SQLite and,
// when MIKROBILL_TEST_POSTGRES_URL is set, PostgreSQL (storetest.Each).

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func fixedClock(s *store.Store) {
	t := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { t = t.Add(time.Second); return t }
}

func TestPlans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fixedClock(s)
		q := s.Q()
		p := &store.Plan{Name: "Home 10M", Kind: store.PlanPPPoE, RateLimit: "5M/10M", SharedUsers: 1,
			TimeLimit: 0, DataLimitBytes: 50 << 30, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR",
			IsolationProfile: "isolir", Active: true}
		if err := q.CreatePlan(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := q.GetPlan(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("GetPlan (-created +read):\n%s", diff)
		}
		if err := q.CreatePlan(ctx, &store.Plan{Name: "Home 10M", Kind: store.PlanHotspot, Validity: time.Hour, Currency: "IDR"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate name: %v, want ErrConflict", err)
		}
		p.Price, p.Active = 175000, false
		if err := q.UpdatePlan(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, _ = q.GetPlan(ctx, p.ID)
		if got.Price != 175000 || got.Active || !got.UpdatedAt.After(got.CreatedAt) {
			t.Errorf("after update: %+v", got)
		}
		if err := q.CreatePlan(ctx, &store.Plan{Name: "Day pass", Kind: store.PlanHotspot, Validity: 24 * time.Hour, Price: 5000, Currency: "IDR", Active: true}); err != nil {
			t.Fatal(err)
		}
		list, total, err := q.ListPlans(ctx, store.Page{Limit: 1})
		if err != nil || total != 2 || len(list) != 1 || list[0].Name != "Day pass" {
			t.Errorf("ListPlans(limit 1) = %v, %d, %v", list, total, err)
		}
		if _, _, err := q.ListPlans(ctx, store.Page{Limit: 100000}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("huge limit: %v", err)
		}
		if err := q.DeletePlan(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetPlan(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted plan: %v", err)
		}
	})
}

func TestCipher(t *testing.T) {
	c, err := store.NewCipher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt("s3cret")
	if err != nil || !store.IsEncrypted(enc) || enc == "s3cret" {
		t.Fatalf("Encrypt = %q, %v", enc, err)
	}
	if dec, err := c.Decrypt(enc); err != nil || dec != "s3cret" {
		t.Errorf("Decrypt = %q, %v", dec, err)
	}
	other, _ := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if _, err := other.Decrypt(enc); !errors.Is(err, store.ErrDecrypt) {
		t.Errorf("another key: %v, want ErrDecrypt", err)
	}
	if _, err := store.NewCipher([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}
