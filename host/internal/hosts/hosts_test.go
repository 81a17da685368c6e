package hosts_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// fakeLocal records what a host was asked to apply.
type fakeLocal struct {
	mu       sync.Mutex
	settings []string
	disabled map[string]bool
	actions  [][]string // the plugin actions' ids, per call
}

func (f *fakeLocal) PluginStates() any {
	return []map[string]string{{"name": "payment-fake", "state": "running"}}
}

func (f *fakeLocal) Reconfigure(_ context.Context, plugin string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settings = append(f.settings, plugin)
	return nil
}

func (f *fakeLocal) SetDisabled(plugin string, disabled bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.disabled == nil {
		f.disabled = map[string]bool{}
	}
	f.disabled[plugin] = disabled
	return nil
}

func (f *fakeLocal) ApplyActions(_ context.Context, wants []store.PluginAction) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, a := range wants {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	f.actions = append(f.actions, ids)
	return nil
}

func (f *fakeLocal) snapshot() (settings []string, disabled map[string]bool, actions [][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := map[string]bool{}
	for k, v := range f.disabled {
		d[k] = v
	}
	return slices.Clone(f.settings), d, slices.Clone(f.actions)
}

// pgURL is a new database for the test (the test is skipped when
// MIKROBILL_TEST_POSTGRES_URL is not set, and fails when it is set and
// PostgreSQL does not answer).
func pgURL(t *testing.T) string {
	t.Helper()
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set: several hosts need PostgreSQL (CI sets it; so can you, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)", storetest.EnvPostgres)
	}
	return storetest.PostgresURL(t)
}

// openStore opens (and migrates, with the job queue) the store at url.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st := storetest.PostgresAt(t, url)
	if err := jobs.Migrate(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return st
}

func startRegistry(t *testing.T, st *store.Store, local hosts.Local, cfg hosts.Config) *hosts.Registry {
	t.Helper()
	r := hosts.New(st, local, cfg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func view(t *testing.T, r *hosts.Registry) hosts.View {
	t.Helper()
	v, err := r.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func stateOf(v hosts.View, id string) string {
	for _, h := range v.Hosts {
		if h.ID == id {
			return h.State
		}
	}
	return "absent"
}

// TestRegistryStates: hosts register, are alive while they beat, stopped
// after a clean shutdown, gone when they stop beating without one.
func TestRegistryStates(t *testing.T) {
	t.Parallel()
	st := openStore(t, pgURL(t))
	cfg := hosts.Config{Heartbeat: 100 * time.Millisecond, Resync: time.Minute, Version: "1.2.3", Address: "http://127.0.0.1:1"}
	a := startRegistry(t, st, &fakeLocal{}, withID(cfg, "host-a"))
	b := startRegistry(t, st, &fakeLocal{}, withID(cfg, "host-b"))
	c := startRegistry(t, st, &fakeLocal{}, withID(cfg, "host-c"))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })

	v := view(t, a)
	if len(v.Hosts) != 3 || stateOf(v, "host-a") != hosts.StateAlive || stateOf(v, "host-b") != hosts.StateAlive {
		t.Fatalf("hosts = %+v", v.Hosts)
	}
	h := v.Hosts[0]
	if !h.Self || h.Version != "1.2.3" || h.Address != "http://127.0.0.1:1" || h.StartedAt.IsZero() || h.HeartbeatAt.IsZero() {
		t.Fatalf("host-a = %+v", h)
	}
	var plugins []map[string]string
	if err := json.Unmarshal(h.Plugins, &plugins); err != nil || len(plugins) != 1 || plugins[0]["name"] != "payment-fake" {
		t.Fatalf("host-a's plugins = %s (%v)", h.Plugins, err)
	}

	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(view(t, a), "host-b"); s != hosts.StateStopped {
		t.Fatalf("host-b after a clean shutdown: %s", s)
	}
	// host-c dies: its loops end without a word to the store.
	stopSilently(t, c)
	took := waitFor(t, 5*time.Second, "host-c seen gone", func() bool { return stateOf(view(t, a), "host-c") == hosts.StateGone })
	if took < c.GoneAfter()/2 {
		t.Fatalf("host-c seen gone after %s, before its gone bound %s", took, c.GoneAfter())
	}
	// A host starting again under its id is alive again.
	c2 := startRegistry(t, st, &fakeLocal{}, withID(cfg, "host-c"))
	t.Cleanup(func() { _ = c2.Stop(context.Background()) })
	if s := stateOf(view(t, a), "host-c"); s != hosts.StateAlive {
		t.Fatalf("host-c after a new start: %s", s)
	}
}

func withID(cfg hosts.Config, id string) hosts.Config {
	cfg.ID = id
	return cfg
}

// stopSilently ends a registry's loops as a dying host would: its row is
// left as it was (Stop on a store that refuses the update).
func stopSilently(t *testing.T, r *hosts.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = r.Stop(ctx) // the cancelled context keeps the row from being marked stopped
}

// TestPropagation: what one host announces reaches the other within 2
// seconds (the notification), and what was never announced within the
// resync; after the listener's connection is cut, it reconnects.
func TestPropagation(t *testing.T) {
	t.Parallel()
	u := pgURL(t)
	stA, stB := openStore(t, u), openStore(t, u)
	ctx := context.Background()
	la, lb := &fakeLocal{}, &fakeLocal{}
	cfg := hosts.Config{Heartbeat: 200 * time.Millisecond, Resync: time.Hour}
	a := startRegistry(t, stA, la, withID(cfg, "host-a"))
	b := startRegistry(t, stB, lb, withID(cfg, "host-b"))
	t.Cleanup(func() { _ = a.Stop(ctx); _ = b.Stop(ctx) })
	waitListening(t, stA, 2)
	// Each listener's connection starts one pass of each kind; a pass of
	// host A's that read the store after the save below, and before
	// host A's Changed, would apply host A's own change there once more.
	for _, r := range []*hosts.Registry{a, b} {
		waitFor(t, 10*time.Second, r.ID()+"'s first passes", func() bool { return hosts.SyncPasses(r) >= 3 })
	}

	const bound = 2 * time.Second
	// Settings saved through host A.
	if err := stA.Q().SavePluginSettings(ctx, "payment-fake", json.RawMessage(`{"mode":"live"}`), nil, "admin", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Changed(ctx, hosts.KindSettings, "payment-fake"); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, bound, "host-b reconfigures payment-fake", func() bool {
		s, _, _ := lb.snapshot()
		return slices.Equal(s, []string{"payment-fake"})
	})
	t.Logf("settings reached host-b in %s", took)

	// A lasting disable and its enable.
	if err := stA.Q().SetPluginDisabled(ctx, "payment-fake", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := a.Changed(ctx, hosts.KindDisable, "payment-fake"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bound, "host-b disables payment-fake", func() bool { _, d, _ := lb.snapshot(); return d["payment-fake"] })
	if err := stA.Q().ClearPluginDisabled(ctx, "payment-fake"); err != nil {
		t.Fatal(err)
	}
	if err := a.Changed(ctx, hosts.KindDisable, "payment-fake"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bound, "host-b enables payment-fake", func() bool {
		_, d, _ := lb.snapshot()
		v, ok := d["payment-fake"]
		return ok && !v
	})

	// A marketplace action finished through host A.
	now := time.Now()
	act := store.PluginAction{ID: "act1", Action: "install", Plugin: "notify-fake", Version: "1.0.0", Source: "/tmp/x",
		FolderSHA256: "abc", State: "done", Host: "host-a", CreatedAt: now, FinishedAt: now}
	if err := stA.Q().RecordPluginAction(ctx, act); err != nil {
		t.Fatal(err)
	}
	if err := a.Changed(ctx, hosts.KindActions, "notify-fake"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, bound, "host-b applies the install", func() bool {
		_, _, acts := lb.snapshot()
		return len(acts) > 0 && slices.Equal(acts[len(acts)-1], []string{"act1"})
	})

	// Host A applied its own changes itself: it is not asked again.
	time.Sleep(300 * time.Millisecond)
	if s, d, acts := la.snapshot(); len(s) != 0 || len(d) != 0 || len(acts) != 0 {
		t.Fatalf("host-a applied its own changes again: settings %v, disables %v, actions %v", s, d, acts)
	}

	// The listener's connection is cut: it reconnects and reads again.
	if _, err := stA.Q().DB().Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN "+hosts.Channel+"' AND datname = current_database()"); err != nil {
		t.Fatal(err)
	}
	if err := stA.Q().SavePluginSettings(ctx, "payment-fake", json.RawMessage(`{"mode":"test"}`), nil, "admin", nil); err != nil {
		t.Fatal(err)
	}
	waitListening(t, stA, 2)
	if err := a.Changed(ctx, hosts.KindSettings, "payment-fake"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "host-b reconfigures payment-fake after its listener reconnected", func() bool {
		s, _, _ := lb.snapshot()
		return len(s) == 2
	})
}

// waitListening waits until n listeners are connected.
func waitListening(t *testing.T, st *store.Store, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "the hosts' listeners connected", func() bool {
		var got int
		err := st.Q().DB().QueryRow(context.Background(), "SELECT COUNT(*) FROM pg_stat_activity WHERE query = 'LISTEN "+hosts.Channel+"' AND datname = current_database()").Scan(&got)
		return err == nil && got >= n
	})
}

// TestResyncAppliesWhatWasNotAnnounced: a change whose notification was
// lost (never sent) is applied at the next resync.
func TestResyncAppliesWhatWasNotAnnounced(t *testing.T) {
	t.Parallel()
	st := openStore(t, pgURL(t))
	ctx := context.Background()
	lb := &fakeLocal{}
	b := startRegistry(t, st, lb, hosts.Config{ID: "host-b", Heartbeat: time.Second, Resync: 300 * time.Millisecond})
	t.Cleanup(func() { _ = b.Stop(ctx) })
	if err := st.Q().SavePluginSettings(ctx, "payment-fake", json.RawMessage(`{}`), nil, "admin", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Q().SetPluginDisabled(ctx, "sms-fake", "admin"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the resync applies both", func() bool {
		s, d, _ := lb.snapshot()
		return slices.Equal(s, []string{"payment-fake"}) && d["sms-fake"]
	})
}

// TestRegistryOnSQLite: one host, the leader.
func TestRegistryOnSQLite(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	r := startRegistry(t, st, &fakeLocal{}, hosts.Config{ID: "only", Heartbeat: 50 * time.Millisecond})
	v := view(t, r)
	if len(v.Hosts) != 1 || v.Leader != "only" || !v.Hosts[0].Leader || v.Hosts[0].State != hosts.StateAlive {
		t.Fatalf("view = %+v", v)
	}
	time.Sleep(120 * time.Millisecond) // a few heartbeats
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(view(t, r), "only"); s != hosts.StateStopped {
		t.Fatalf("after Stop: %s", s)
	}
}

// changingLocal is a fakeLocal whose plugin's state the test sets.
type changingLocal struct {
	fakeLocal
	state atomic.Value // string
}

func (c *changingLocal) PluginStates() any {
	return []map[string]string{{"name": "payment-fake", "state": c.state.Load().(string)}}
}

// TestViewShowsOwnPluginsNow: the host that answers shows its plugins as
// they are now, not as its last heartbeat recorded them (a heartbeat 30 s
// apart on SQLite would show a disable that late).
func TestViewShowsOwnPluginsNow(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	local := &changingLocal{}
	local.state.Store("running")
	r := startRegistry(t, st, local, hosts.Config{ID: "only", Heartbeat: time.Minute})
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	local.state.Store("disabled") // no heartbeat records it for a minute
	v := view(t, r)
	var plugins []map[string]string
	if len(v.Hosts) != 1 || !v.Hosts[0].Self {
		t.Fatalf("view = %+v", v)
	}
	if err := json.Unmarshal(v.Hosts[0].Plugins, &plugins); err != nil || len(plugins) != 1 || plugins[0]["state"] != "disabled" {
		t.Fatalf("own plugins = %s (%v), want payment-fake disabled", v.Hosts[0].Plugins, err)
	}
	rows, err := st.Q().ListHosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !strings.Contains(string(rows[0].Plugins), `"running"`) {
		t.Fatalf("the stored row = %+v, want the state registered at start (running): the test would not tell the two apart", rows)
	}
}

// TestResolveID: a configured id is checked; otherwise one is made once and
// kept in the data directory.
func TestResolveID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := hosts.ResolveID("bad id!", dir); err == nil {
		t.Fatal("a bad configured id was taken")
	}
	if id, err := hosts.ResolveID("web-1", dir); err != nil || id != "web-1" {
		t.Fatalf("configured: %q, %v", id, err)
	}
	id, err := hosts.ResolveID("", dir)
	if err != nil || id == "" {
		t.Fatalf("generated: %q, %v", id, err)
	}
	again, err := hosts.ResolveID("", dir)
	if err != nil || again != id {
		t.Fatalf("kept: %q then %q, %v", id, again, err)
	}
}

// tickArgs is a periodic job, made by the leader named in it.
type tickArgs struct {
	Host string `json:"host"`
}

func (tickArgs) Kind() string { return "hosts_test_tick" }

type tickWorker struct {
	river.WorkerDefaults[tickArgs]
}

func (tickWorker) Work(context.Context, *river.Job[tickArgs]) error { return nil }

// ticks lists the hosts that made the periodic jobs in the store, in the
// order they were made.
func ticks(t *testing.T, st *store.Store) []string {
	t.Helper()
	rows, err := st.Q().DB().Query(context.Background(), "SELECT args->>'host' FROM river_job WHERE kind = 'hosts_test_tick' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

func startQueue(t *testing.T, st *store.Store, id string) *jobs.Queue {
	t.Helper()
	w := river.NewWorkers()
	river.AddWorker(w, tickWorker{})
	periodic := []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(300*time.Millisecond),
		func() (river.JobArgs, *river.InsertOpts) { return tickArgs{Host: id}, nil },
		&river.PeriodicJobOpts{RunOnStart: true, ID: "tick"})}
	q, err := jobs.New(st, w, periodic, jobs.Config{ID: id, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestLeaderTakeover: two hosts on one PostgreSQL; the periodic jobs are
// made on the leader only; when the leader dies (its connection to the
// database is cut: no heartbeat, no resignation), the other host deposes
// it once it is gone and makes them within the bound.
func TestLeaderTakeover(t *testing.T) {
	t.Parallel()
	u := pgURL(t)
	proxy := newProxy(t, u)
	stA, stB := openStore(t, proxy.url), openStore(t, u)
	ctx := context.Background()
	cfg := hosts.Config{Heartbeat: 200 * time.Millisecond, Resync: time.Hour}

	qA := startQueue(t, stA, "host-a")
	a := startRegistry(t, stA, &fakeLocal{}, withID(cfg, "host-a"))
	waitFor(t, 10*time.Second, "host-a leads", func() bool { id, ok, _ := stB.Q().JobLeader(ctx); return ok && id == "host-a" })
	qB := startQueue(t, stB, "host-b")
	b := startRegistry(t, stB, &fakeLocal{}, withID(cfg, "host-b"))
	t.Cleanup(func() {
		_ = b.Stop(ctx)
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = qB.Stop(stopCtx)
	})

	// Both run for a while: the periodic job is made by host-a alone.
	waitFor(t, 5*time.Second, "ticks on the leader", func() bool { return len(ticks(t, stB)) >= 4 })
	if v := view(t, b); v.Leader != "host-a" || stateOf(v, "host-a") != hosts.StateAlive || stateOf(v, "host-b") != hosts.StateAlive {
		t.Fatalf("view before: %+v", v)
	}

	// host-a dies.
	proxy.cut()
	cut := time.Now()
	before := ticks(t, stB)
	if slices.Contains(before, "host-b") {
		t.Fatalf("the follower made periodic jobs while host-a led: %v", before)
	}
	// Gone, deposed at the next heartbeat, elected at once, and River's
	// leader services staggered up to 1s; without the deposition River
	// would wait out the dead leader's 15 s term.
	bound := a.GoneAfter() + 2*cfg.Heartbeat + 5*time.Second
	waitFor(t, bound, "host-b makes the periodic jobs", func() bool { return slices.Contains(ticks(t, stB), "host-b") })
	t.Logf("host-b took over %s after host-a died (gone after %s; bound %s)", time.Since(cut).Round(time.Millisecond), a.GoneAfter(), bound)
	v := view(t, b)
	if v.Leader != "host-b" || stateOf(v, "host-a") != hosts.StateGone {
		t.Fatalf("view after: %+v", v)
	}
	// Every job made after the cut is host-b's, one per interval.
	waitFor(t, 3*time.Second, "more ticks", func() bool { return len(ticks(t, stB)) >= len(before)+4 })
	if after := ticks(t, stB)[len(before):]; slices.Contains(after, "host-a") {
		t.Fatalf("host-a made periodic jobs after it died: %v", after)
	}

	// host-a's network comes back only for its queue to stop quickly
	// (River's resignation retries for seconds without it).
	stopSilently(t, a)
	proxy.heal()
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := qA.Stop(stopCtx); err != nil {
		t.Logf("host-a's queue: %v", err)
	}
}

// proxy forwards TCP to PostgreSQL until cut, as the network to a host
// that dies: cut closes its connections and refuses new ones until heal.
type proxy struct {
	url   string
	ln    net.Listener
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func newProxy(t *testing.T, pg string) *proxy {
	t.Helper()
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	target := u.Host
	u.Host = ln.Addr().String()
	p.url = u.String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() { p.cut(); _ = ln.Close() })
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) heal() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestSecretsMustMatch: a host whose shared secrets differ from a live
// host's is refused, naming the secret and the host; once that host has
// stopped, it may start (the secrets were changed on every host).
func TestSecretsMustMatch(t *testing.T) {
	t.Parallel()
	st := openStore(t, pgURL(t))
	ctx := context.Background()
	secrets := func(jwt string) map[string]string {
		return map[string]string{"security.jwt_secret": jwt, "security.encryption_key": "k"}
	}
	a := startRegistry(t, st, &fakeLocal{}, hosts.Config{ID: "host-a", Secrets: secrets("one"), Heartbeat: time.Second})
	if err := hosts.CheckSecrets(ctx, st, hosts.Config{ID: "host-b", Secrets: secrets("one")}); err != nil {
		t.Fatalf("the same secrets: %v", err)
	}
	err := hosts.CheckSecrets(ctx, st, hosts.Config{ID: "host-b", Secrets: secrets("two")})
	if !errors.Is(err, hosts.ErrSecretsDiffer) || !strings.Contains(err.Error(), `security.jwt_secret is not the one of host "host-a"`) ||
		strings.Contains(err.Error(), "encryption_key is not") {
		t.Fatalf("another jwt secret: %v", err)
	}
	if err := hosts.New(st, &fakeLocal{}, hosts.Config{ID: "host-b", Secrets: secrets("two")}).Start(ctx); !errors.Is(err, hosts.ErrSecretsDiffer) {
		t.Fatalf("Start with another jwt secret: %v", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := hosts.CheckSecrets(ctx, st, hosts.Config{ID: "host-b", Secrets: secrets("two")}); err != nil {
		t.Fatalf("after host-a stopped: %v", err)
	}
}
