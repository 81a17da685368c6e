package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// activeMenus are the menus the poller counts sessions in, by kind.
var activeMenus = []struct{ kind, menu string }{
	{"hotspot", "/ip/hotspot/active"},
	{"ppp", "/ppp/active"},
}

// poll checks every router every pollEvery, and at once after Configure,
// until Shutdown.
func (p *Plugin) poll() {
	defer close(p.pollDone)
	t := time.NewTicker(p.pollEvery)
	defer t.Stop()
	for {
		select {
		case <-p.pollCtx.Done():
			return
		case <-t.C:
		case <-p.pollKick:
		}
		cmd, dial := p.timeouts()
		// Three commands, and a connection to make first.
		ctx, cancel := context.WithTimeout(p.pollCtx, dial+3*cmd)
		p.check(ctx, p.locations())
		cancel()
	}
}

// checkUnpolled checks, within pollTimeout, the routers never checked.
func (p *Plugin) checkUnpolled(ctx context.Context, locs []*location) {
	var todo []*location
	for _, l := range locs {
		if l.status().checked.IsZero() {
			todo = append(todo, l)
		}
	}
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.pollTimeout)
	defer cancel()
	p.check(ctx, todo)
}

// check checks routers concurrently and records what it finds.
func (p *Plugin) check(ctx context.Context, locs []*location) {
	var wg sync.WaitGroup
	for _, l := range locs {
		wg.Go(func() { l.check(ctx) })
	}
	wg.Wait()
}

// check reads the router's resources and counts its active sessions.
func (l *location) check(ctx context.Context) {
	var found status
	err := l.do(ctx, func(s *session) error {
		rows, err := s.run("/system/resource/print")
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			r := resourcesFrom(l.cfg.ID, rows[0])
			found.version, found.uptime, found.cpuLoad = r.Version, r.Uptime, r.CPULoad
		}
		found.sessions = map[string]int{}
		for _, m := range activeMenus {
			rows, err := s.run(m.menu+"/print", "=.proplist=.id")
			var t *trapError
			switch {
			case errors.As(err, &t):
				// No such menu (package missing): no count.
				continue
			case err != nil:
				return err
			}
			found.sessions[m.kind] = len(rows)
		}
		return nil
	})
	if err != nil && errors.Is(err, context.Canceled) && !errors.Is(err, sdk.ErrUnavailable) {
		return // shutting down
	}
	now := time.Now()
	l.setStatus(func(st *status) {
		st.checked = now
		if err != nil {
			st.err = err.Error()
			st.sessions = nil
			if !errors.Is(err, sdk.ErrUnavailable) {
				// The caller's deadline: the router is busy or slow.
				st.err = fmt.Sprintf("no answer within the health check's time: %v", err)
			}
			return
		}
		st.reachable, st.loginOK, st.err = true, true, ""
		st.version, st.uptime, st.cpuLoad, st.sessions = found.version, found.uptime, found.cpuLoad, found.sessions
	})
	if err != nil {
		l.log.Debug("router check failed", "error", err)
	}
}

// CheckHealth implements sdk.Plugin. It answers from the poller's last
// results, checking now (briefly) only routers never checked: ok when every
// router is up, degraded when some are down (or none is configured), error
// when all are down.
func (p *Plugin) CheckHealth(ctx context.Context, _ *sdk.CheckHealthRequest) (*sdk.CheckHealthResponse, error) {
	locs := p.locations()
	if len(locs) == 0 {
		return &sdk.CheckHealthResponse{
			Status:  sdk.HealthDegraded,
			Message: "no router locations configured; add them in the plugin's settings",
			Details: map[string]any{"locations": 0},
		}, nil
	}
	p.checkUnpolled(ctx, locs)
	details := map[string]any{}
	var parts []string
	up := 0
	for _, l := range locs {
		st := l.status()
		d := map[string]any{
			"address":   l.addr,
			"up":        st.up(),
			"reachable": st.reachable,
			"login_ok":  st.loginOK,
		}
		if !st.checked.IsZero() {
			d["checked_at"] = st.checked.UTC().Format(time.RFC3339)
		}
		if st.version != "" {
			d["version"] = st.version
			d["uptime"] = fmtDuration(st.uptime)
			d["cpu_load"] = st.cpuLoad
		}
		if st.sessions != nil {
			// structpb takes map[string]any, not map[string]int.
			sessions := map[string]any{}
			for k, n := range st.sessions {
				sessions[k] = n
			}
			d["active_sessions"] = sessions
		}
		if st.up() {
			up++
			part := l.cfg.ID + ": up"
			if st.version != "" {
				part += fmt.Sprintf(", RouterOS %s, uptime %s, CPU %d%%", shortVersion(st.version), fmtDuration(st.uptime), st.cpuLoad)
			}
			parts = append(parts, part)
		} else {
			why := st.err
			if why == "" {
				why = "not checked yet"
			}
			d["error"] = why
			parts = append(parts, fmt.Sprintf("%s: down (%s)", l.cfg.ID, why))
		}
		details[l.cfg.ID] = d
	}
	resp := &sdk.CheckHealthResponse{Status: sdk.HealthOK, Details: details}
	switch {
	case up == 0:
		resp.Status = sdk.HealthError
	case up < len(locs):
		resp.Status = sdk.HealthDegraded
	}
	resp.Message = fmt.Sprintf("%d of %d routers up: %s", up, len(locs), strings.Join(parts, "; "))
	return resp, nil
}

// CollectMetrics implements sdk.Plugin.
func (p *Plugin) CollectMetrics(context.Context, *sdk.CollectMetricsRequest) (*sdk.CollectMetricsResponse, error) {
	locs := p.locations()
	gs := make([]gauges, 0, len(locs))
	for _, l := range locs {
		st := l.status()
		gs = append(gs, gauges{loc: l.cfg.ID, up: st.up(), sessions: st.sessions})
	}
	text, err := p.stats.text(gs)
	if err != nil {
		return nil, err
	}
	return &sdk.CollectMetricsResponse{Text: text}, nil
}
