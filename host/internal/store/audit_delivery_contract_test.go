package store_test

// The audit log as a delivery queue, and what the host trusts about the
// audit plugin's log: on both backends.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

func TestAuditDeliveryQueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		for i := range 7 {
			// Out of time order: the queue's order is the log's (ids).
			e := &store.AuditEntry{EventID: fmt.Sprintf("ev-%d", i), OccurredAt: start.Add(time.Duration(7-i) * time.Minute), Actor: "system", Action: "x"}
			if err := s.Tx(ctx, func(tx *store.Tx) error {
				if err := tx.Q().LockAuditOrder(ctx); err != nil {
					return err
				}
				_, err := tx.Q().AppendAudit(ctx, e)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := q.AuditBacklog(ctx)
		if err != nil || b.Count != 7 || !b.Oldest.Equal(start.Add(7*time.Minute)) {
			t.Fatalf("backlog %+v, %v; want 7 waiting since the first recorded", b, err)
		}
		first, err := q.UndeliveredAudit(ctx, 3)
		if err != nil || len(first) != 3 || first[0].EventID != "ev-0" || first[2].EventID != "ev-2" {
			t.Fatalf("first batch %+v, %v", first, err)
		}
		if err := q.MarkAuditDelivered(ctx, []int64{first[0].ID, first[1].ID, first[2].ID}); err != nil {
			t.Fatal(err)
		}
		next, err := q.UndeliveredAudit(ctx, 10)
		if err != nil || len(next) != 4 || next[0].EventID != "ev-3" {
			t.Fatalf("next batch %+v, %v", next, err)
		}
		b, _ = q.AuditBacklog(ctx)
		if b.Count != 4 || !b.Oldest.Equal(start.Add(4*time.Minute)) {
			t.Errorf("backlog after a batch: %+v", b)
		}
		if _, err := q.UndeliveredAudit(ctx, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("limit 0: %v", err)
		}
	})
}

func TestAuditTrust(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		if _, err := q.AuditTrust(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no trust yet: %v", err)
		}
		if k, err := q.PinAuditKey(ctx, "key-1", now); err != nil || k != "key-1" {
			t.Fatalf("pin: %q, %v", k, err)
		}
		// The first key stays pinned.
		if k, err := q.PinAuditKey(ctx, "key-2", now.Add(time.Hour)); err != nil || k != "key-1" {
			t.Fatalf("pin again: %q, %v", k, err)
		}
		for _, size := range []uint64{10, 30, 20} {
			if err := q.SeeAuditCheckpoint(ctx, size, fmt.Sprint("root-", size), now.Add(time.Duration(size)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := q.AuditTrust(ctx)
		if err != nil || tr.KnownSize != 30 || tr.KnownRoot != "root-30" || !tr.KnownAt.Equal(now.Add(30*time.Minute)) || !tr.PinnedAt.Equal(now) {
			t.Fatalf("trust %+v, %v; want the largest size seen", tr, err)
		}
		if err := q.ResetAuditTrust(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := q.AuditTrust(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after reset: %v", err)
		}

		if _, err := q.LatestAuditVerification(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no verification yet: %v", err)
		}
		for _, v := range []store.AuditVerification{
			{CheckedAt: now, OK: true, Checked: 5, CheckpointSize: 5, CheckpointRoot: "r5", CheckpointAt: now, PublicKey: "key-1"},
			{CheckedAt: now.Add(time.Hour), OK: false, Checked: 3, FirstBadSequence: 3, FirstBadEventID: "ev-3", Reason: "chain", Message: "hash differs"},
		} {
			if err := q.RecordAuditVerification(ctx, &v); err != nil || v.ID == 0 {
				t.Fatalf("record: %v", err)
			}
		}
		v, err := q.LatestAuditVerification(ctx)
		if err != nil || v.OK || v.FirstBadSequence != 3 || v.FirstBadEventID != "ev-3" || v.Reason != "chain" || !v.CheckedAt.Equal(now.Add(time.Hour)) || !v.CheckpointAt.IsZero() {
			t.Fatalf("latest %+v, %v", v, err)
		}
	})
}
