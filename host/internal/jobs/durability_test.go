package jobs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// runArgs records one run of a job in the database, so runs are counted
// across processes.
type runArgs struct {
	Name string `json:"name" river:"unique"`
}

func (runArgs) Kind() string { return "test_run" }

type runWorker struct {
	river.WorkerDefaults[runArgs]
	st *store.Store
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[runArgs]) error {
	_, err := w.st.Q().DB().Exec(ctx, "INSERT INTO sequences (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1", "runs-"+job.Args.Name)
	return err
}

func runs(t *testing.T, st *store.Store, name string) int64 {
	t.Helper()
	var n int64
	err := st.Q().DB().QueryRow(context.Background(), "SELECT value FROM sequences WHERE name = ?", "runs-"+name).Scan(&n)
	if err != nil {
		return 0
	}
	return n
}

// host is what a host process does with the queue: open the store, start
// the queue with the worker. It is run in a child process (the test binary
// itself) so the test can SIGKILL it. Mode "insert" first inserts the
// "survivor" job, due a little later; mode "probe" inserts a "probe" job,
// due now, whose run shows that this host has worked its queue.
func host(ctx context.Context, o store.Options, mode string) error {
	st, err := store.Open(ctx, o)
	if err != nil {
		return err
	}
	defer st.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &runWorker{st: st})
	q, err := jobs.New(st, workers, nil, jobs.Config{PollInterval: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	if mode == "insert" {
		// Insert in a transaction, due a little later, as billing does,
		// then tell the parent, which kills this process before it is due.
		err := st.Tx(ctx, func(tx *store.Tx) error {
			_, err := q.InsertTx(ctx, tx, runArgs{Name: "survivor"}, &river.InsertOpts{ScheduledAt: time.Now().Add(1500 * time.Millisecond)})
			return err
		})
		if err != nil {
			return err
		}
	}
	if mode == "probe" {
		if _, err := q.Insert(ctx, runArgs{Name: "probe"}, nil); err != nil {
			return err
		}
	}
	if err := q.Start(ctx); err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return q.Stop(sctx)
}

func TestMain(m *testing.M) {
	if mode := os.Getenv("JOBS_TEST_HOST"); mode != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		o := store.Options{URL: os.Getenv("JOBS_TEST_URL"), DataDir: os.Getenv("JOBS_TEST_DIR")}
		if err := host(ctx, o, mode); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startHost runs host() in a child process and waits until it is ready.
func startHost(t *testing.T, o store.Options, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JOBS_TEST_HOST="+mode, "JOBS_TEST_URL="+o.URL, "JOBS_TEST_DIR="+o.DataDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("host process did not get ready: %q %v", buf, err)
	}
	return cmd
}

func TestJobInsertedBeforeAKillRunsOnceAfterRestart(t *testing.T) {
	backends := []struct {
		name string
		opts func(t *testing.T) store.Options
	}{
		{"sqlite", func(t *testing.T) store.Options { return store.Options{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) store.Options {
			if os.Getenv(storetest.EnvPostgres) == "" {
				t.Skipf("%s is not set: the PostgreSQL run is skipped", storetest.EnvPostgres)
			}
			return store.Options{URL: storetest.PostgresURL(t)}
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			o := b.opts(t)
			ctx := context.Background()
			st, err := store.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := jobs.Migrate(ctx, st); err != nil {
				t.Fatal(err)
			}

			first := startHost(t, o, "insert")
			if err := first.Process.Kill(); err != nil { // SIGKILL: no clean stop
				t.Fatal(err)
			}
			_ = first.Wait()
			if n := runs(t, st, "survivor"); n != 0 {
				t.Fatalf("the job ran %d times before the kill; the test needs it to be still due", n)
			}

			// A new host starts: the job runs, once. (It runs once the killed
			// host's leadership has lapsed, as River's scheduler, which
			// makes due jobs available, runs on the leader.)
			second := startHost(t, o, "run")
			sdktest.WaitFor(t, 45*time.Second, "the job's run on the new host", func() bool { return runs(t, st, "survivor") > 0 })
			// And a third host does not run it again. It runs alone, and
			// once it has run a job of its own it has worked its queue.
			if err := second.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = second.Wait()
			startHost(t, o, "probe")
			sdktest.WaitFor(t, 45*time.Second, "the third host's run of its own job", func() bool { return runs(t, st, "probe") > 0 })
			if n := runs(t, st, "survivor"); n != 1 {
				t.Errorf("the job ran %d times, want exactly once", n)
			}
		})
	}
}

// tickArgs is the periodic job; Host is the host whose leader enqueued it.
type tickArgs struct {
	Host string `json:"host"`
}

func (tickArgs) Kind() string { return "test_tick" }

// tick is one run of the periodic job.
type tick struct {
	job  int64
	host string // the enqueuing host
}

type tickWorker struct {
	river.WorkerDefaults[tickArgs]
	mu   *sync.Mutex
	runs *[]tick
}

func (w *tickWorker) Work(_ context.Context, job *river.Job[tickArgs]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	*w.runs = append(*w.runs, tick{job: job.ID, host: job.Args.Host})
	return nil
}

// TestTwoHostsRunAPeriodicJobOnce: of two hosts on one database, one
// enqueues the periodic job (River's leader), and each job runs once. The
// test waits for eight runs, then looks at who enqueued them: one host, or
// two one after the other when leadership moved; two enqueuers alternate
// tick by tick (shown by giving each host a database of its own).
func TestTwoHostsRunAPeriodicJobOnce(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set: several hosts share PostgreSQL only", storetest.EnvPostgres)
	}
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	var mu sync.Mutex
	var runs []tick
	for i := range 2 {
		st, err := store.Open(ctx, store.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if i == 0 {
			if err := jobs.Migrate(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		id := "host-" + strconv.Itoa(i)
		workers := river.NewWorkers()
		river.AddWorker(workers, &tickWorker{mu: &mu, runs: &runs})
		periodic := []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Second),
			func() (river.JobArgs, *river.InsertOpts) { return tickArgs{Host: id}, nil }, &river.PeriodicJobOpts{RunOnStart: true, ID: "tick"})}
		q, err := jobs.New(st, workers, periodic, jobs.Config{ID: id, PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			q.Stop(sctx)
		})
	}
	seen := func() []tick {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(runs)
	}
	sdktest.WaitFor(t, 60*time.Second, "eight runs of the periodic job", func() bool { return len(seen()) >= 8 })

	got := seen()
	jobRuns := map[int64]int{}
	var enqueuers []string
	for i, r := range got {
		jobRuns[r.job]++
		if jobRuns[r.job] == 2 {
			t.Errorf("job %d ran twice", r.job)
		}
		if i == 0 || r.host != got[i-1].host {
			enqueuers = append(enqueuers, r.host)
		}
	}
	if len(enqueuers) > 2 {
		t.Errorf("the runs were enqueued by %v in turn; want one leader at a time (one host, or two after a handover)", enqueuers)
	}
}
