package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestSQLiteWritersWaitWithoutConnections: while a transaction holds
// SQLite's write lock, writers that wait for it (more of them than the
// pool has connections) hold no connection, so a read is answered at once;
// once the transaction commits, every writer's statement runs.
func TestSQLiteWritersWaitWithoutConnections(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	const writers = 12
	inTx, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- s.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Q().DB().Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, ?)", "held", 1); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			_, err := s.Q().DB().Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, ?)", "w"+string(rune('a'+i)), i)
			errs <- err
		})
	}
	time.Sleep(200 * time.Millisecond) // the writers are waiting now
	// Without waiting writers holding every connection, the read needs
	// none of the transaction's; bounded well below SQLite's 10 s busy
	// timeout, which is what a starved pool would make it wait.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var n int
	if err := s.Q().DB().QueryRow(rctx, "SELECT COUNT(*) FROM sequences").Scan(&n); err != nil {
		t.Fatalf("a read while %d writers wait for the write lock: %v", writers, err)
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a waiting writer: %v", err)
		}
	}
	if err := s.Q().DB().QueryRow(ctx, "SELECT COUNT(*) FROM sequences WHERE name = 'held' OR name LIKE 'w%'").Scan(&n); err != nil || n != writers+1 {
		t.Errorf("%d rows written (%v), want %d", n, err, writers+1)
	}
}

// TestWriteTurnFigures: the time a transaction holds the SQLite write turn
// and the time a writer waits for it are counted, and the store's
// collector reports them on SQLite only.
func TestWriteTurnFigures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		before, ok := s.WriteTurn()
		if s.Driver() != "sqlite" {
			if ok {
				t.Fatal("PostgreSQL reports write turn figures; it has no write turn")
			}
			assertTurnMetrics(t, s, false)
			return
		}
		if !ok {
			t.Fatal("SQLite reports no write turn figures")
		}
		const hold = 300 * time.Millisecond
		inTx := make(chan struct{})
		txDone := make(chan error, 1)
		go func() {
			txDone <- s.Tx(ctx, func(tx *store.Tx) error {
				close(inTx)
				time.Sleep(hold)
				_, err := tx.Q().DB().Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, ?)", "turn-held", 1)
				return err
			})
		}()
		<-inTx
		if _, err := s.Q().DB().Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, ?)", "turn-waited", 1); err != nil {
			t.Fatal(err)
		}
		if err := <-txDone; err != nil {
			t.Fatal(err)
		}
		after, _ := s.WriteTurn()
		if held := after.Held - before.Held; held < hold {
			t.Errorf("the turn was held %s; the transaction alone held it %s", held, hold)
		}
		if after.Waits-before.Waits != 1 {
			t.Errorf("%d writers waited, want 1 (the write during the transaction)", after.Waits-before.Waits)
		}
		if waited := after.Waited - before.Waited; waited < hold/3 {
			t.Errorf("the writer waited %s while a transaction held the turn %s", waited, hold)
		}
		assertTurnMetrics(t, s, true)
	})
}

func assertTurnMetrics(t *testing.T, s *store.Store, want bool) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(store.NewCollector(s))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if m := f.GetMetric(); len(m) == 1 && m[0].GetCounter() != nil {
			got[f.GetName()] = m[0].GetCounter().GetValue()
		}
	}
	for _, name := range []string{"mikrobill_db_write_turn_held_seconds_total", "mikrobill_db_write_turn_waits_total", "mikrobill_db_write_turn_wait_seconds_total"} {
		v, ok := got[name]
		if ok != want {
			t.Errorf("%s reported: %v, want %v", name, ok, want)
		}
		if want && v <= 0 {
			t.Errorf("%s = %v after a transaction held the turn and a writer waited", name, v)
		}
	}
}
