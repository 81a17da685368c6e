package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
)

// Name and Version must match plugin.json.
const (
	Name    = "mikrotik"
	Version = "0.1.0"
)

const description = "MikroTik RouterOS: hotspot users and PPP secrets over the RouterOS API (api and api-ssl)"

// Plugin is mikrobill's RouterOS plugin. Each configured location is one
// router reached over its API (see location); the operations are in
// users.go, profiles.go and sessions.go, health and metrics in health.go.
type Plugin struct {
	sdk.Base

	mu    sync.RWMutex
	cfg   settings
	locs  map[string]*location
	order []string // location ids in the order configured

	stats *stats

	// The poller: started by the first Configure, stopped by Shutdown.
	pollStarted bool // guarded by mu
	pollKick    chan struct{}
	pollCtx     context.Context
	pollCancel  context.CancelFunc
	pollDone    chan struct{}

	// Tunables, changed by tests only: the first and the longest pause
	// after a failed connection attempt, how often the poller checks every
	// router (0: never, in the background), and how long a check done on
	// demand may take.
	backoffBase, backoffMax time.Duration
	pollEvery, pollTimeout  time.Duration
	// log, when set, replaces the logger Serve gives (tests).
	log hclog.Logger
}

var (
	_ router.Router  = (*Plugin)(nil)
	_ sdk.Shutdowner = (*Plugin)(nil)
)

// NewPlugin returns an unconfigured plugin.
func NewPlugin() *Plugin {
	ctx, cancel := context.WithCancel(context.Background())
	return &Plugin{
		cfg:         DefaultSettings(),
		locs:        map[string]*location{},
		stats:       newStats(),
		pollKick:    make(chan struct{}, 1),
		pollCtx:     ctx,
		pollCancel:  cancel,
		pollDone:    make(chan struct{}),
		backoffBase: time.Second,
		backoffMax:  30 * time.Second,
		pollEvery:   30 * time.Second,
		pollTimeout: 3 * time.Second,
	}
}

// Describe implements sdk.Plugin.
func (p *Plugin) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: Name, Version: Version, Description: description}, nil
}

// Configure implements sdk.Plugin. It applies at once: locations whose
// connection settings changed are reconnected, removed ones closed, and the
// others keep their connection.
func (p *Plugin) Configure(_ context.Context, req *sdk.ConfigureRequest) (*sdk.ConfigureResponse, error) {
	cfg := DefaultSettings()
	if err := sdk.DecodeConfig(req.Settings, &cfg); err != nil {
		return nil, err
	}
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	resp := &sdk.ConfigureResponse{}
	for _, l := range cfg.Locations {
		if ip := net.ParseIP(l.Address); !l.TLS && (ip == nil || !ip.IsLoopback()) {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf("location %q: tls is off, so the router password and subscribers' passwords cross the network in clear text; enable api-ssl on the router and set \"tls\": true", l.ID))
		}
		if l.TLS && l.CAPEM == "" && l.CertSHA256 == "" {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf("location %q: tls with neither ca_pem nor cert_sha256 trusts only certificates from the system's authorities; a router's self-signed certificate needs cert_sha256", l.ID))
		}
	}

	p.mu.Lock()
	old := p.locs
	locs := make(map[string]*location, len(cfg.Locations))
	order := make([]string, 0, len(cfg.Locations))
	var created []*location
	for _, lc := range cfg.Locations {
		order = append(order, lc.ID)
		if o, ok := old[lc.ID]; ok && o.cfg.sameConnection(lc) {
			o.mu.Lock()
			o.cfg.Name = lc.Name
			o.mu.Unlock()
			locs[lc.ID] = o
			continue
		}
		l, err := newLocation(p, lc)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		locs[lc.ID] = l
		created = append(created, l)
	}
	for id, o := range old {
		if locs[id] != o {
			o.close()
		}
	}
	p.cfg, p.locs, p.order = cfg, locs, order
	if !p.pollStarted && p.pollCtx.Err() == nil && p.pollEvery > 0 {
		p.pollStarted = true
		go p.poll()
	}
	p.mu.Unlock()

	for _, l := range created {
		p.logger().Info("router location configured", "location", l.cfg.ID, "address", l.addr, "tls", l.cfg.TLS, "username", l.cfg.Username)
	}
	select {
	case p.pollKick <- struct{}{}:
	default:
	}
	return resp, nil
}

// Shutdown implements sdk.Shutdowner: it stops the poller and closes every
// connection.
func (p *Plugin) Shutdown(ctx context.Context) error {
	p.pollCancel()
	p.mu.Lock()
	locs, started := p.locs, p.pollStarted
	p.locs, p.order = map[string]*location{}, nil
	p.mu.Unlock()
	for _, l := range locs {
		l.close()
	}
	if started {
		select {
		case <-p.pollDone:
		case <-ctx.Done():
		}
	}
	return nil
}

// logger is the plugin's logger: hclog JSON on stderr.
func (p *Plugin) logger() hclog.Logger {
	if p.log != nil {
		return p.log
	}
	return p.Logger()
}

func (p *Plugin) timeouts() (command, dial time.Duration) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return seconds(p.cfg.CommandTimeoutSeconds), seconds(p.cfg.DialTimeoutSeconds)
}

func (p *Plugin) backoffs() (base, maxBackoff time.Duration) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.backoffBase, p.backoffMax
}

// location returns the router with this id.
func (p *Plugin) location(id string) (*location, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if l, ok := p.locs[id]; ok {
		return l, nil
	}
	if len(p.locs) == 0 {
		return nil, fmt.Errorf("%w %q: the plugin has no router locations configured; add them in the plugin's settings", router.ErrUnknownLocation, id)
	}
	return nil, fmt.Errorf("%w %q: configured locations are %s", router.ErrUnknownLocation, id, strings.Join(p.order, ", "))
}

// locations returns the configured routers in their configured order.
func (p *Plugin) locations() []*location {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*location, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, p.locs[id])
	}
	return out
}

// run looks the location up and runs op on its connection.
func (p *Plugin) run(ctx context.Context, id string, op func(s *session) error) error {
	l, err := p.location(id)
	if err != nil {
		return err
	}
	return l.do(ctx, op)
}

// ListLocations implements router.Router. Routers never checked yet are
// checked now, briefly.
func (p *Plugin) ListLocations(ctx context.Context, _ *router.ListLocationsRequest) (*router.ListLocationsResponse, error) {
	locs := p.locations()
	p.checkUnpolled(ctx, locs)
	resp := &router.ListLocationsResponse{Locations: []router.Location{}}
	for _, l := range locs {
		st := l.status()
		l.mu.Lock()
		name := l.cfg.Name
		l.mu.Unlock()
		loc := router.Location{ID: l.cfg.ID, Name: name, Address: l.addr, Reachable: st.up(), RouterOSVersion: shortVersion(st.version)}
		if !loc.Reachable {
			loc.Error = st.err
			if loc.Error == "" {
				loc.Error = "not checked yet"
			}
		}
		resp.Locations = append(resp.Locations, loc)
	}
	return resp, nil
}

// shortVersion drops the release channel: "7.18.2 (stable)" is "7.18.2".
func shortVersion(v string) string {
	if i := strings.IndexByte(v, ' '); i >= 0 {
		return v[:i]
	}
	return v
}

// GetResources implements router.Router.
func (p *Plugin) GetResources(ctx context.Context, req *router.GetResourcesRequest) (*router.GetResourcesResponse, error) {
	var res router.Resources
	err := p.run(ctx, req.Location, func(s *session) error {
		rows, err := s.run("/system/resource/print")
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("%w: router %q answered /system/resource/print with no row", sdk.ErrInternal, req.Location)
		}
		res = resourcesFrom(req.Location, rows[0])
		s.l.setStatus(func(st *status) {
			st.version, st.uptime, st.cpuLoad = res.Version, res.Uptime, res.CPULoad
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &router.GetResourcesResponse{Resources: res}, nil
}

func resourcesFrom(loc string, row map[string]string) router.Resources {
	up, _ := parseDuration(row["uptime"])
	return router.Resources{
		Location:         loc,
		Version:          row["version"],
		BoardName:        row["board-name"],
		Architecture:     row["architecture-name"],
		Uptime:           up,
		CPULoad:          int(parseUint(row["cpu-load"])),
		CPUCount:         int(parseUint(row["cpu-count"])),
		FreeMemoryBytes:  parseBytes(row["free-memory"]),
		TotalMemoryBytes: parseBytes(row["total-memory"]),
		FreeHDDBytes:     parseBytes(row["free-hdd-space"]),
		TotalHDDBytes:    parseBytes(row["total-hdd-space"]),
	}
}
