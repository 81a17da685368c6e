package hosts

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Runner is what the leases start and stop: the host's singleton plugins
// (and the job queues of their jobs).
type Runner interface {
	// Singletons lists the singleton plugins this host would run now, by
	// name: not disabled, not failed for good, not stopped. A lease this
	// host holds for a plugin not listed is released.
	Singletons() []string
	// Gain starts the plugin here: this host took its lease. It returns at
	// once (the plugin starts in the background); a plugin that runs or
	// starts already is left alone.
	Gain(plugin string)
	// Lose stops the plugin here, if it runs, within the given time, and
	// records that holder runs it ("" while no live host holds it).
	Lose(plugin, holder string, within time.Duration)
}

// Leases decides which host runs each singleton plugin, through a lease
// per plugin in the store (table singleton_leases): a host claims the
// lease of each singleton plugin it would run every heartbeat, which takes
// it when nobody holds it (or its holder is gone or stopped) and renews it
// when this host holds it. The holder runs the plugin; the others leave it
// stopped.
//
// A holder that cannot renew its lease (it lost the database, or stalled)
// stops its plugins before another host may take them: another host takes
// a lease not renewed for GoneAfter on the database's clock, measured from
// the renewal's arrival, which is after the holder sent it; the holder
// stops its plugin once GoneAfter less one heartbeat has passed on its own
// clock since it sent its last successful renewal, and kills it within a
// heartbeat more. So the two never run at once while the holder's process
// runs and the clocks tick at the same rate; a host whose whole process is
// frozen (SIGSTOP, a paused virtual machine) cannot stop anything, and its
// plugin's process keeps running until the host resumes and its first
// check stops it (docs/operations.md, "Several hosts").
//
// On the embedded SQLite there is one host, which takes every lease.
type Leases struct {
	st        *store.Store
	id        string
	heartbeat time.Duration
	log       hclog.Logger

	mu sync.Mutex
	// held maps each plugin whose lease this host holds to when it must
	// have stopped it unless renewed meanwhile (the fence).
	held map[string]time.Time
	// claimed holds each plugin whose lease this host's last claim took,
	// renewed or not: a lease whose fence lapsed (held no longer has it)
	// still names this host in the store until it is released or another
	// host takes it, so a round releases it once the runner no longer
	// wants the plugin, and Stop releases it.
	claimed map[string]bool
	holders map[string]string // the last holder seen of each plugin
	runner  Runner

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewLeases makes the leases of host cfg.ID (cfg.Heartbeat, cfg.Logger as
// for the registry). Nothing runs until Start; Claim works before.
func NewLeases(st *store.Store, cfg Config) *Leases {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Leases{st: st, id: cfg.ID, heartbeat: cfg.Heartbeat, log: cfg.Logger.Named("leases"),
		held: map[string]time.Time{}, claimed: map[string]bool{}, holders: map[string]string{}}
}

// GoneAfter is how long a lease lasts unrenewed.
func (l *Leases) GoneAfter() time.Duration { return GoneBeats * l.heartbeat }

// fence is how long after sending a renewal the holder may run its plugin
// without a newer one.
func (l *Leases) fence() time.Duration { return l.GoneAfter() - l.heartbeat }

// Claim takes or renews the lease of plugin for this host and returns its
// holder: this host's id when it holds it now. The plugin manager claims
// each singleton plugin before it launches it.
func (l *Leases) Claim(ctx context.Context, plugin string) (string, error) {
	sent := time.Now()
	ctx, cancel := context.WithTimeout(ctx, l.heartbeat)
	defer cancel()
	holder, err := l.st.Q().ClaimSingleton(ctx, plugin, l.id, l.GoneAfter())
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holders[plugin] = holder
	if holder == l.id {
		l.held[plugin] = sent.Add(l.fence())
		l.claimed[plugin] = true
	} else {
		delete(l.held, plugin)
		delete(l.claimed, plugin)
	}
	return holder, nil
}

// Holds reports whether this host holds plugin's lease now (taken, and
// renewed within the fence). The plugin manager launches a singleton
// plugin only while it does.
func (l *Leases) Holds(plugin string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.held[plugin]
	return ok && time.Now().Before(until)
}

// Holder is the host that runs plugin as last seen here ("" when none
// was seen).
func (l *Leases) Holder(plugin string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holders[plugin]
}

// Start runs the claims every heartbeat and the fence, for runner's
// singleton plugins, until Stop.
func (l *Leases) Start(runner Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	l.mu.Lock()
	l.runner, l.cancel = runner, cancel
	l.mu.Unlock()
	l.wg.Add(2)
	go func() { defer l.wg.Done(); l.claimLoop(ctx) }()
	go func() { defer l.wg.Done(); l.fenceLoop(ctx) }()
}

func (l *Leases) claimLoop(ctx context.Context) {
	t := time.NewTicker(l.heartbeat)
	defer t.Stop()
	for {
		l.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round claims the lease of every singleton plugin the runner would run,
// starts those whose lease this host took, stops those another host took,
// and releases the leases of plugins the runner would no longer run.
func (l *Leases) round(ctx context.Context) {
	wanted := l.runner.Singletons()
	for _, p := range wanted {
		had := l.Holds(p)
		holder, err := l.Claim(ctx, p)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			l.log.Warn("singleton lease not renewed; the plugin stops here if this lasts", "plugin", p, "error", err,
				"stops_within", l.fence())
		case holder == l.id:
			if !had {
				l.log.Info("singleton lease taken; the plugin starts here", "plugin", p)
			}
			l.runner.Gain(p)
		default:
			if had {
				l.log.Warn("singleton lease taken by another host; the plugin stops here", "plugin", p, "holder", holder)
			}
			l.runner.Lose(p, holder, l.heartbeat)
		}
	}
	l.mu.Lock()
	var drop []string
	for p := range l.claimed {
		if !slices.Contains(wanted, p) {
			drop = append(drop, p)
		}
	}
	l.mu.Unlock()
	for _, p := range drop {
		l.release(ctx, p)
	}
}

// release gives up plugin's lease (the runner no longer runs it here).
func (l *Leases) release(ctx context.Context, plugin string) {
	l.mu.Lock()
	delete(l.held, plugin)
	delete(l.claimed, plugin)
	l.mu.Unlock()
	if err := l.st.Q().ReleaseSingleton(ctx, plugin, l.id); err != nil {
		l.log.Warn("singleton lease not released; another host takes it once it expires", "plugin", plugin, "error", err,
			"expires_in", l.GoneAfter())
		return
	}
	l.log.Info("singleton lease released", "plugin", plugin)
}

// fenceLoop stops each plugin whose lease was not renewed in time.
func (l *Leases) fenceLoop(ctx context.Context) {
	t := time.NewTicker(max(l.heartbeat/8, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		l.mu.Lock()
		var lapsed []string
		for p, until := range l.held {
			if !now.Before(until) {
				lapsed = append(lapsed, p)
				delete(l.held, p)
				l.holders[p] = ""
			}
		}
		l.mu.Unlock()
		for _, p := range lapsed {
			l.log.Error("singleton lease not renewed in time; the plugin stops here before another host may take it", "plugin", p)
			l.runner.Lose(p, "", l.heartbeat)
		}
	}
}

// Stop ends the claims, stops the singleton plugins this host runs and
// then releases their leases, so another host takes them at its next
// heartbeat (not after GoneAfter), and never while they still run here.
func (l *Leases) Stop(ctx context.Context) error {
	l.mu.Lock()
	cancel, runner := l.cancel, l.runner
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	l.wg.Wait()
	l.mu.Lock()
	claimed := slices.Sorted(maps.Keys(l.claimed))
	l.mu.Unlock()
	for _, p := range claimed {
		runner.Lose(p, "", l.heartbeat)
		l.release(ctx, p)
	}
	return nil
}

// Lease is a singleton plugin's lease as the hosts see it.
type Lease struct {
	store.SingletonLease
	// Live: the holder renewed it within GoneAfter and did not shut down;
	// otherwise the next claim of a live host takes it.
	Live bool `json:"live"`
}

// List lists the leases, with whether each is live.
func (l *Leases) List(ctx context.Context) ([]Lease, error) {
	return listLeases(ctx, l.st, l.GoneAfter())
}

func listLeases(ctx context.Context, st *store.Store, goneAfter time.Duration) ([]Lease, error) {
	q := st.Q()
	rows, err := q.SingletonLeases(ctx)
	if err != nil {
		return nil, err
	}
	now, err := q.DBNow(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Lease, len(rows))
	for i, r := range rows {
		out[i] = Lease{SingletonLease: r, Live: now.Sub(r.RenewedAt) <= goneAfter}
	}
	return out, nil
}
