package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

type benchArgs struct {
	SubscriptionID int64  `json:"subscription_id" river:"unique"`
	InvoiceID      int64  `json:"invoice_id" river:"unique"`
	Template       string `json:"template,omitempty" river:"unique"`
}

func (benchArgs) Kind() string { return "bench_insert" }

type benchWorker struct {
	river.WorkerDefaults[benchArgs]
}

func (benchWorker) Work(context.Context, *river.Job[benchArgs]) error { return nil }

// BenchmarkInsertManyTx: what a paid webhook's transaction spends on its
// three unique jobs on the embedded SQLite, where every statement of the
// transaction holds the one writer: River's InsertManyTx (the jobs read
// back, RETURNING *) against InsertManyFastTx (nothing read back), what
// Queue.InsertManyTx uses there. Each op is one transaction.
func BenchmarkInsertManyTx(b *testing.B) {
	ctx := context.Background()
	s := storetest.SQLite(b)
	if err := Migrate(ctx, s); err != nil {
		b.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, benchWorker{})
	q, err := New(s, workers, nil, Config{PollInterval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	unique := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
	var seq int64
	params := func() []river.InsertManyParams {
		seq++
		return []river.InsertManyParams{
			{Args: benchArgs{SubscriptionID: seq, InvoiceID: seq}, InsertOpts: unique},
			{Args: benchArgs{SubscriptionID: seq, InvoiceID: seq, Template: "payment_receipt"}, InsertOpts: unique},
			{Args: benchArgs{InvoiceID: seq, Template: "audit"}, InsertOpts: unique},
		}
	}
	for _, c := range []struct {
		name   string
		insert func(tx *store.Tx) error
	}{
		{"returning", func(tx *store.Tx) error { _, err := q.lite.InsertManyTx(ctx, tx.SQLTx(), params()); return err }},
		{"fast", func(tx *store.Tx) error { _, err := q.lite.InsertManyFastTx(ctx, tx.SQLTx(), params()); return err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Tx(ctx, c.insert); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
