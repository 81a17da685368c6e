package jobs_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// elsewhere is a call to a singleton plugin that another host runs, as
// plugins.ElsewhereError is.
type elsewhere struct{ plugin string }

func (e elsewhere) Error() string           { return "plugin " + e.plugin + " runs on another host" }
func (e elsewhere) SingletonPlugin() string { return e.plugin }

type sendArgs struct {
	N int `json:"n"`
}

func (sendArgs) Kind() string { return "test_send" }

// sendWorker "sends" through singleton plugin "notify-fake", which runs
// on one host only: on the others the call fails as it does there.
type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	host string
	runs *atomic.Bool // this host runs the plugin
	mu   *sync.Mutex
	sent map[int]string // job n -> the host that sent it
}

func (w *sendWorker) Work(_ context.Context, job *river.Job[sendArgs]) error {
	if !w.runs.Load() {
		return river.JobCancel(fmt.Errorf("send %d: %w", job.Args.N, elsewhere{"notify-fake"}))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev, ok := w.sent[job.Args.N]; ok {
		return fmt.Errorf("job %d sent twice (first by %s)", job.Args.N, prev)
	}
	w.sent[job.Args.N] = w.host
	return nil
}

// TestJobsMoveToTheSingletonsHost: jobs that call a singleton plugin
// another host runs move to the plugin's queue and are worked by the host
// that works it, once each, with no attempt spent; when no host works the
// queue they wait there, and the next holder works them.
func TestJobsMoveToTheSingletonsHost(t *testing.T) {
	t.Parallel()
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set: several hosts need PostgreSQL", storetest.EnvPostgres)
	}
	st := storetest.Postgres(t)
	ctx := context.Background()
	if err := jobs.Migrate(ctx, st); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[int]string{}
	start := func(host string, runs bool) (*jobs.Queue, *sendWorker) {
		w := &sendWorker{host: host, runs: new(atomic.Bool), mu: &mu, sent: sent}
		w.runs.Store(runs)
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		q, err := jobs.New(st, workers, nil, jobs.Config{ID: host, PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if runs {
			if err := q.WorkSingleton("notify-fake"); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Stop(context.Background()) })
		return q, w
	}
	// Only host-b works the default queue for a while: every job it takes
	// moves; host-a, which runs the plugin, works its queue.
	qb, _ := start("host-b", false)
	const n = 20
	for i := range n {
		if _, err := qb.Insert(ctx, sendArgs{N: i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitRows := func(what string, ok func(rows []string) bool) []string {
		t.Helper()
		var rows []string
		deadline := time.Now().Add(20 * time.Second)
		for {
			rows = sendJobs(t, st)
			if ok(rows) {
				return rows
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %q", what, rows)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitRows("every job moved to the plugin's queue, none sent", func(rows []string) bool {
		for _, r := range rows {
			if !strings.HasPrefix(r, "available singleton_notify-fake 0 ") {
				return false
			}
		}
		return len(rows) == n
	})
	qa, wa := start("host-a", true)
	rows := waitRows("every job completed", func(rows []string) bool {
		for _, r := range rows {
			if !strings.HasPrefix(r, "completed singleton_notify-fake 1 host-b,host-a") {
				return false
			}
		}
		return true
	})
	mu.Lock()
	if len(sent) != n {
		t.Errorf("%d jobs sent, want %d: %v", len(sent), n, rows)
	}
	mu.Unlock()

	// host-a loses the plugin: its queue's jobs wait until host-b works it.
	if err := qa.StopSingleton(ctx, "notify-fake"); err != nil {
		t.Fatal(err)
	}
	wa.runs.Store(false) // the plugin left host-a
	if _, err := qb.Insert(ctx, sendArgs{N: n}, nil); err != nil {
		t.Fatal(err)
	}
	waitRows("the new job waits in the plugin's queue", func(rows []string) bool {
		return len(rows) == n+1 && strings.HasPrefix(rows[n], "available singleton_notify-fake 0 ")
	})
	start("host-b2", true)
	waitRows("host-b2 sends it", func(rows []string) bool {
		return len(rows) == n+1 && strings.HasPrefix(rows[n], "completed singleton_notify-fake 1 ") && strings.HasSuffix(rows[n], "host-b2")
	})
}

// sendJobs are the test_send jobs: state, queue, attempt and the hosts
// that attempted each.
func sendJobs(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.Q().DB().Query(context.Background(),
		"SELECT state, queue, attempt, COALESCE(array_to_string(attempted_by, ','), '') FROM river_job WHERE kind = 'test_send' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var state, queue, by string
		var attempt int
		if err := rows.Scan(&state, &queue, &attempt, &by); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %d %s", state, queue, attempt, by))
	}
	return out
}
