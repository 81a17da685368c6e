package pluginstall

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Request is one action an admin asks for (the admin API, the UI, the
// CLI through the API).
type Request struct {
	// Action is install, upgrade, rollback or remove.
	Action string `json:"action"`
	Name   string `json:"name"`
	// Version is the version wanted ("" for the newest); install and
	// upgrade only.
	Version string `json:"version,omitempty"`
	// Source is the marketplace to fetch from (Config.Sources, by name);
	// From, instead, a folder on this machine (DirSource). Install and
	// upgrade only; at most one of the two: with neither, the one trusted
	// marketplace that offers the plugin (Runner.Start).
	Source string `json:"source,omitempty"`
	From   string `json:"from,omitempty"`
	// Force removes a plugin others depend on; PurgeData removes its
	// data directory too. Remove only.
	Force     bool `json:"force,omitempty"`
	PurgeData bool `json:"purge_data,omitempty"`
	// By is who asked ("user:ana"), for the record.
	By string `json:"-"`
}

// Action is a request as a Runner carries it out: its progress, then its
// outcome.
type Action struct {
	ID      string `json:"id"`
	Request `json:"request"`
	// State is running, done or failed.
	State string `json:"state"`
	// Step is the step under way (Observer.Step).
	Step string `json:"step,omitempty"`
	// Done and Total are the bytes fetched and the archive's size (0
	// when unknown).
	Done  int64 `json:"bytes_done"`
	Total int64 `json:"bytes_total"`
	// Error says why it failed and what to do.
	Error   string    `json:"error,omitempty"`
	Result  *Result   `json:"result,omitempty"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
}

// Action states.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// Runner carries out requests one by one in the background for a serving
// host and keeps each action's progress and outcome, the latest 100, for
// GET /api/v1/plugin-actions/{id}. Record, when set, is told each action
// as it starts and as it ends (the store's plugin_actions: the record
// other hosts apply).
type Runner struct {
	in     *Installer
	record func(ctx context.Context, a Action) error

	mu      sync.Mutex
	actions map[string]*Action
	order   []string
	done    map[string]chan struct{}
}

// NewRunner returns a runner over in; record may be nil.
func NewRunner(in *Installer, record func(ctx context.Context, a Action) error) *Runner {
	return &Runner{in: in, record: record, actions: map[string]*Action{}, done: map[string]chan struct{}{}}
}

// Installer returns the runner's installer.
func (r *Runner) Installer() *Installer { return r.in }

// Check refuses a request that cannot be carried out, before it starts:
// an unknown action, a bad name, a missing or unknown source.
func (r *Runner) Check(ctx context.Context, req Request) error {
	if err := checkName(req.Name); err != nil {
		return err
	}
	switch req.Action {
	case ActionInstall, ActionUpgrade:
		if req.Source != "" && req.From != "" {
			return fmt.Errorf("%w: say where %s comes from: a marketplace (source) or a folder on the host (from), not both", ErrRefused, req.Name)
		}
		if req.Source != "" {
			if _, err := r.in.Source(ctx, req.Source); err != nil {
				return err
			}
		}
	case ActionRollback, ActionRemove:
	default:
		return fmt.Errorf("%w: no plugin action %q: install, upgrade, rollback or remove", ErrRefused, req.Action)
	}
	return nil
}

// Start checks req and carries it out in the background; it returns the
// action at once (state running).
//
// An install or upgrade that names neither a marketplace nor a folder comes
// from the one trusted marketplace that offers the plugin (Offering); the
// action records it as its source.
func (r *Runner) Start(ctx context.Context, req Request) (Action, error) {
	if err := r.Check(ctx, req); err != nil {
		return Action{}, err
	}
	if (req.Action == ActionInstall || req.Action == ActionUpgrade) && req.Source == "" && req.From == "" {
		src, err := r.in.Offering(ctx, req.Name)
		if err != nil {
			return Action{}, err
		}
		req.Source = src.Name()
	}
	a := &Action{ID: newID(), Request: req, State: StateRunning, Started: time.Now().UTC()}
	done := make(chan struct{})
	r.mu.Lock()
	r.actions[a.ID] = a
	r.done[a.ID] = done
	r.order = append(r.order, a.ID)
	if len(r.order) > 100 {
		old := r.order[0]
		r.order = r.order[1:]
		delete(r.actions, old)
		delete(r.done, old)
	}
	snap := *a
	r.mu.Unlock()
	r.save(snap)
	go func() {
		defer close(done)
		res, err := r.run(context.WithoutCancel(ctx), a.ID, req)
		r.mu.Lock()
		a.Result, a.Ended = res, time.Now().UTC()
		a.State, a.Step = StateDone, ""
		if err != nil {
			a.State, a.Error = StateFailed, err.Error()
		}
		snap := *a
		r.mu.Unlock()
		r.save(snap)
	}()
	return snap, nil
}

func (r *Runner) save(a Action) {
	if r.record == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.record(ctx, a); err != nil {
		r.in.cfg.Log.Error("plugin action not recorded in the store", "id", a.ID, "action", a.Request.Action, "plugin", a.Name, "error", err)
	}
}

func (r *Runner) run(ctx context.Context, id string, req Request) (*Result, error) {
	obs := Observer{
		Step: func(s string) { r.update(id, func(a *Action) { a.Step = s }) },
		Progress: func(done, total int64) {
			r.update(id, func(a *Action) { a.Done, a.Total = done, total })
		},
	}
	switch req.Action {
	case ActionInstall, ActionUpgrade:
		var src Source = DirSource{Dir: req.From}
		if req.Source != "" {
			var err error
			if src, err = r.in.Source(ctx, req.Source); err != nil {
				return nil, err
			}
		}
		if req.Action == ActionInstall {
			return r.in.Install(ctx, src, req.Name, req.Version, obs)
		}
		return r.in.Upgrade(ctx, src, req.Name, req.Version, obs)
	case ActionRollback:
		return r.in.Rollback(ctx, req.Name, obs)
	default:
		return r.in.Remove(ctx, req.Name, req.Force, req.PurgeData, obs)
	}
}

func (r *Runner) update(id string, f func(a *Action)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.actions[id]; ok {
		f(a)
	}
}

// Get returns an action by id.
func (r *Runner) Get(id string) (Action, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.actions[id]
	if !ok {
		return Action{}, false
	}
	return *a, true
}

// List returns the actions kept, newest first.
func (r *Runner) List() []Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Action, 0, len(r.order))
	for _, id := range slices.Backward(r.order) {
		out = append(out, *r.actions[id])
	}
	return out
}

// Wait waits until the action ends or ctx does, and returns it.
func (r *Runner) Wait(ctx context.Context, id string) (Action, error) {
	r.mu.Lock()
	done, ok := r.done[id]
	r.mu.Unlock()
	if !ok {
		return Action{}, fmt.Errorf("%w: no plugin action %q", ErrNotFound, id)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return Action{}, ctx.Err()
	}
	a, _ := r.Get(id)
	return a, nil
}
