package plugins

import (
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/history"
	"github.com/mikrobill/mikrobill/sdk"
)

// The plugins' history, for the admin UI's sparklines: the manager samples
// every plugin every plugins.history_interval (sampleLoop) into the
// plugin's ring, which keeps the last hour (package history). Sampling
// holds an instance's lock only to copy a few fields; /proc is read and
// the latency recorder emptied outside it, so a sample never holds up a
// call, and a call never waits for a sample.

// historyInterval is the configured sampling interval, or the default for
// a configuration made without one.
func (m *Manager) historyInterval() time.Duration {
	if d := m.cfg.Plugins.HistoryInterval; d > 0 {
		return d
	}
	return history.DefaultInterval
}

// sampleLoop samples every plugin on the history interval until the
// manager stops.
func (m *Manager) sampleLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.historyInterval())
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.sampleAll(now)
		}
	}
}

// sampleAll adds one sample, taken at now, to every plugin's history.
func (m *Manager) sampleAll(now time.Time) {
	for _, p := range m.Plugins() {
		p.sample(now)
	}
}

// sample adds one look at the plugin, taken at now, to its history: its
// state, health and restarts, what /proc says of its process, and the
// calls made to it since the last sample.
func (p *Plugin) sample(now time.Time) {
	p.mu.RLock()
	s := history.Sample{Time: now, State: string(p.state), Health: healthUnknown, Restarts: p.restarts}
	if p.state.Up() {
		if p.proc != nil {
			s.PID = p.proc.Pid()
		}
		if p.health != nil {
			s.Health = string(p.health.Status)
		}
	}
	p.mu.RUnlock()
	s.Process = history.ReadProcess(s.PID)
	s.Latency = p.lat.Take()
	p.hist.Add(s)
}

// History returns a plugin's history over the last hour as columns, oldest
// first; with sinceMilli above zero (Unix milliseconds), only the samples
// taken after it. An unknown plugin is sdk.ErrNotFound.
func (m *Manager) History(name string, sinceMilli int64) (history.Series, error) {
	p, ok := m.Plugin(name)
	if !ok {
		return history.Series{}, fmt.Errorf("%w: no plugin %q; GET /api/v1/plugins lists them", sdk.ErrNotFound, name)
	}
	return history.Columns(name, m.historyInterval(), p.hist.Cap(), p.hist.Samples(), sinceMilli), nil
}
