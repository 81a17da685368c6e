package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

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
