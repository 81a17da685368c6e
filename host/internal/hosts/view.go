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
}

// View reads the hosts.
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
	v := View{Leader: leader, GoneAfter: r.GoneAfter(), GoneAfterSeconds: r.GoneAfter().Seconds()}
	for _, h := range rows {
		st := StateAlive
		switch {
		case !h.StoppedAt.IsZero():
			st = StateStopped
		case now.Sub(h.HeartbeatAt) > r.GoneAfter():
			st = StateGone
		}
		v.Hosts = append(v.Hosts, Host{HostRow: h, State: st, Leader: h.ID == leader, Self: h.ID == r.cfg.ID})
	}
	return v, nil
}
