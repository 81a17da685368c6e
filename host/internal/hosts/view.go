package hosts

import (
	"context"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Host states in a View.
const (
	StateAlive   = "alive"
	StateGone    = "gone"
	StateStopped = "stopped"
)

// Host is one host as the others see it.
type Host struct {
	store.HostRow
	// State is alive, gone (not heard from for GoneAfter: it died or lost
	// the database) or stopped (shut down cleanly).
	State string `json:"state"`
	// Leader marks the job queue's elected leader, which runs the periodic
	// jobs.
	Leader bool `json:"leader"`
	// Self marks the host that answered.
	Self bool `json:"self"`
	// Singletons are the singleton plugins this host runs (holds a live
	// lease of), by name.
	Singletons []string `json:"singletons"`
}

// View lists every host that registered, with its state and which is the
// leader, as of the database's clock.
type View struct {
	Hosts []Host `json:"hosts"`
	// Leader is the leader's id ("" while none is elected).
	Leader    string        `json:"leader"`
	GoneAfter time.Duration `json:"-"`
	// GoneAfterSeconds is how long a host may go unheard before it is
	// gone.
	GoneAfterSeconds float64 `json:"gone_after_seconds"`
	// Singletons are the leases of the singleton plugins: which host runs
	// each (a lease that is not live is taken over at a live host's next
	// heartbeat).
	Singletons []Lease `json:"singletons"`
}

// SingletonHost is the host that runs singleton plugin name ("" when no
// live host holds its lease).
func (v View) SingletonHost(name string) string {
	for _, l := range v.Singletons {
		if l.Plugin == name && l.Live {
			return l.HostID
		}
	}
	return ""
}

// View reads the hosts. The other hosts' plugin states are those of their
// last heartbeat; this host's are its current ones.
func (r *Registry) View(ctx context.Context) (View, error) {
	q := r.st.Q()
	rows, err := q.ListHosts(ctx)
	if err != nil {
		return View{}, err
	}
	now, err := q.DBNow(ctx)
	if err != nil {
		return View{}, err
	}
	leader, ok, err := q.JobLeader(ctx)
	if err != nil {
		return View{}, err
	}
	if !ok && r.st.Dialect() != store.Postgres {
		leader = r.cfg.ID // one host: it runs the periodic jobs
	}
	leases, err := listLeases(ctx, r.st, r.GoneAfter())
	if err != nil {
		return View{}, err
	}
	v := View{Leader: leader, GoneAfter: r.GoneAfter(), GoneAfterSeconds: r.GoneAfter().Seconds(), Singletons: leases}
	for _, h := range rows {
		st := StateAlive
		switch {
		case !h.StoppedAt.IsZero():
			st = StateStopped
		case now.Sub(h.HeartbeatAt) > r.GoneAfter():
			st = StateGone
		}
		runs := []string{}
		for _, l := range leases {
			if l.HostID == h.ID && l.Live && st == StateAlive {
				runs = append(runs, l.Plugin)
			}
		}
		self := h.ID == r.cfg.ID
		if self && st == StateAlive {
			// This host's plugins as they are now, not as its last
			// heartbeat recorded them (on SQLite that may be 30 s ago).
			if raw := r.states(); raw != nil {
				h.Plugins = raw
			}
		}
		v.Hosts = append(v.Hosts, Host{HostRow: h, State: st, Leader: h.ID == leader, Self: self, Singletons: runs})
	}
	return v, nil
}
