package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestReadTxReadsOneSnapshot: the reads of a ReadTx see the store as it
// was at its first read, not a transaction that committed in between,
// which reads outside it do see; a write in it is refused as ErrReadOnly.
func TestReadTxReadsOneSnapshot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		q := s.Q()
		if err := q.SetPluginRecord(ctx, "demo", "a", []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		err := s.ReadTx(ctx, func(rq *store.Queries) error {
			if v, err := rq.GetPluginRecord(ctx, "demo", "a"); err != nil || string(v) != "1" {
				t.Fatalf("first read: %q, %v", v, err)
			}
			// Another transaction commits both records meanwhile.
			if err := s.Tx(ctx, func(tx *store.Tx) error {
				if err := tx.Q().SetPluginRecord(ctx, "demo", "a", []byte("2"), 0); err != nil {
					return err
				}
				return tx.Q().SetPluginRecord(ctx, "demo", "b", []byte("2"), 0)
			}); err != nil {
				t.Fatalf("a transaction beside the read transaction: %v", err)
			}
			if v, err := q.GetPluginRecord(ctx, "demo", "a"); err != nil || string(v) != "2" {
				t.Fatalf("outside the read transaction: %q, %v; want the commit seen", v, err)
			}
			if v, err := rq.GetPluginRecord(ctx, "demo", "a"); err != nil || string(v) != "1" {
				t.Errorf("inside: a = %q, %v; want 1, the snapshot of the first read", v, err)
			}
			if v, err := rq.GetPluginRecord(ctx, "demo", "b"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("inside: b = %q, %v; want not found, as at the first read", v, err)
			}
			// Last: on PostgreSQL a refused statement ends the transaction.
			if err := rq.SetPluginRecord(ctx, "demo", "c", []byte("3"), 0); !errors.Is(err, store.ErrReadOnly) {
				t.Errorf("a write in the read transaction: %v; want ErrReadOnly", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("ReadTx: %v", err)
		}
		if _, err := q.GetPluginRecord(ctx, "demo", "c"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused write is there: %v", err)
		}
		refused := errors.New("refused by fn")
		if err := s.ReadTx(ctx, func(*store.Queries) error { return refused }); !errors.Is(err, refused) {
			t.Errorf("ReadTx returned %v; want fn's error", err)
		}
	})
}
