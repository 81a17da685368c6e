package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

func health(t *testing.T, p *Plugin) *sdk.CheckHealthResponse {
	t.Helper()
	return must[*sdk.CheckHealthResponse](t, "CheckHealth")(p.CheckHealth(ctxT(t), &sdk.CheckHealthRequest{}))
}

func TestHealthNoLocations(t *testing.T) {
	t.Parallel()
	p, _ := newPlugin(t)
	h := health(t, p)
	if h.Status != sdk.HealthDegraded || h.Message != "no router locations configured; add them in the plugin's settings" {
		t.Errorf("health before Configure = %+v", h)
	}
	configure(t, p, map[string]any{})
	if h := health(t, p); h.Status != sdk.HealthDegraded {
		t.Errorf("health with no locations = %+v", h)
	}
	_, err := p.ListUsers(ctxT(t), &router.ListUsersRequest{Location: "main", Kind: router.KindHotspot})
	wantErr(t, "ListUsers", err, router.ErrUnknownLocation)
	locs := must[*router.ListLocationsResponse](t, "ListLocations")(p.ListLocations(ctxT(t), &router.ListLocationsRequest{}))
	if len(locs.Locations) != 0 {
		t.Errorf("locations = %+v", locs)
	}
}

// Two routers, one down: degraded, and the other still works.
func TestHealthOneDown(t *testing.T) {
	t.Parallel()
	main := routertest.Start(t, routertest.Options{Password: "a"})
	branch := routertest.Start(t, routertest.Options{Password: "b", Version: "7.16.2 (stable)"})
	main.Add(hsActive, map[string]string{"user": "x", "address": "10.5.50.2"})
	main.Add(routertest.MenuSystemResource, map[string]string{"cpu-load": "7"})
	p, _ := newPlugin(t)
	configure(t, p, map[string]any{"locations": []any{loc("main", main, "a"), loc("branch", branch, "b")}})

	h := health(t, p)
	if h.Status != sdk.HealthOK {
		t.Fatalf("health with both up = %+v", h)
	}
	if !strings.Contains(h.Message, "main: up, RouterOS 7.18.2, uptime ") || !strings.Contains(h.Message, "CPU 7%") ||
		!strings.Contains(h.Message, "branch: up, RouterOS 7.16.2") {
		t.Errorf("message = %q", h.Message)
	}
	d := h.Details["main"].(map[string]any)
	if d["version"] != routertest.DefaultVersion || d["cpu_load"] != 7 || d["login_ok"] != true ||
		d["active_sessions"].(map[string]any)["hotspot"] != 1 {
		t.Errorf("details = %+v", d)
	}

	branch.Stop()
	p.check(ctxT(t), p.locations()) // what the poller does every 30s
	h = health(t, p)
	if h.Status != sdk.HealthDegraded || !strings.Contains(h.Message, "1 of 2 routers up") || !strings.Contains(h.Message, "branch: down (") {
		t.Errorf("health with branch down = %+v", h)
	}
	if d := h.Details["branch"].(map[string]any); d["up"] != false || d["error"] == "" {
		t.Errorf("branch details = %+v", d)
	}
	// main still works; branch answers unreachable.
	if _, err := upsertAlice(t, p); err != nil {
		t.Fatalf("UpsertUser on main: %v", err)
	}
	_, err := p.UpsertUser(ctxT(t), &router.UpsertUserRequest{Location: "branch", User: alice})
	wantErr(t, "UpsertUser on branch", err, router.ErrRouterUnreachable)
	if !strings.Contains(err.Error(), `location "branch"`) {
		t.Errorf("error = %q, want the location", err)
	}
	locs := must[*router.ListLocationsResponse](t, "ListLocations")(p.ListLocations(ctxT(t), &router.ListLocationsRequest{}))
	if len(locs.Locations) != 2 || !locs.Locations[0].Reachable || locs.Locations[1].Reachable || locs.Locations[1].Error == "" {
		t.Errorf("ListLocations = %+v", locs.Locations)
	}
	metrics := string(must[*sdk.CollectMetricsResponse](t, "CollectMetrics")(p.CollectMetrics(ctxT(t), &sdk.CollectMetricsRequest{})).Text)
	for _, want := range []string{
		`mikrobill_router_up{location="main"} 1`,
		`mikrobill_router_up{location="branch"} 0`,
		`mikrobill_router_active_sessions{kind="hotspot",location="main"} 1`,
		`mikrobill_router_active_sessions{kind="ppp",location="main"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}

	main.Stop()
	p.check(ctxT(t), p.locations())
	if h := health(t, p); h.Status != sdk.HealthError {
		t.Errorf("health with both down = %+v", h)
	}

	main.Resume()
	branch.Resume()
	deadline := time.Now().Add(5 * time.Second)
	for health(t, p).Status != sdk.HealthOK && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		p.check(ctxT(t), p.locations())
	}
	if h := health(t, p); h.Status != sdk.HealthOK {
		t.Errorf("health after both came back = %+v", h)
	}
}

// The poller runs in the background and keeps health current.
func TestPoller(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	p, _ := newPlugin(t)
	p.pollEvery = 50 * time.Millisecond
	configure(t, p, map[string]any{"locations": []any{loc("main", r, "")}})
	deadline := time.Now().Add(5 * time.Second)
	for r.CountCommands("/system/resource/print") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := r.CountCommands("/system/resource/print"); n < 2 {
		t.Fatalf("%d polls in 5s", n)
	}
	r.Stop()
	for health(t, p).Status != sdk.HealthError && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h := health(t, p); h.Status != sdk.HealthError {
		t.Errorf("health after the router stopped = %+v", h)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	p, r, _ := setup(t, routertest.Options{})
	if _, err := upsertAlice(t, p); err != nil {
		t.Fatal(err)
	}
	r.Inject(hsUser+"/print", routertest.Fault{Trap: "boom"})
	if _, err := upsertAlice(t, p); err == nil {
		t.Fatal("no error for a trap")
	}
	text := string(must[*sdk.CollectMetricsResponse](t, "CollectMetrics")(p.CollectMetrics(ctxT(t), &sdk.CollectMetricsRequest{})).Text)
	for _, want := range []string{
		"# TYPE mikrobill_router_up gauge",
		"# TYPE mikrobill_router_command_duration_seconds histogram",
		"# TYPE mikrobill_router_commands_total counter",
		// (mikrobill_router_active_sessions is not here: a family without
		// samples is left out, and the poller has not counted sessions yet;
		// TestHealthOneDown sees it.)
		"# TYPE mikrobill_router_reconnects_total counter",
		`mikrobill_router_commands_total{command="/ip/hotspot/user/print",location="main",outcome="ok"} 2`,
		`mikrobill_router_commands_total{command="/ip/hotspot/user/print",location="main",outcome="trap"} 1`,
		`mikrobill_router_commands_total{command="/ip/hotspot/user/add",location="main",outcome="ok"} 1`,
		`mikrobill_router_commands_total{command="/login",location="main",outcome="ok"} 1`,
		`mikrobill_router_command_duration_seconds_bucket{command="/ip/hotspot/user/print",location="main",le="+Inf"} 3`,
		`mikrobill_router_command_duration_seconds_count{command="/ip/hotspot/user/add",location="main"} 1`,
		`mikrobill_router_reconnects_total{location="main"} 0`,
		`mikrobill_router_up{location="main"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every sample line is "name{labels} value".
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) != 2 || !strings.HasPrefix(f[0], "mikrobill_router_") {
			t.Errorf("bad sample line %q", line)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}
