package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// Menus of the fake router.
const (
	hsUser    = routertest.MenuHotspotUser
	hsProfile = routertest.MenuHotspotUserProfile
	hsActive  = routertest.MenuHotspotActive
	pppSecret = routertest.MenuPPPSecret
	pppProf   = routertest.MenuPPPProfile
	pppActive = routertest.MenuPPPActive
)

// loc is the settings of a location pointing at the fake router r.
func loc(id string, r *routertest.Router, password string) map[string]any {
	return map[string]any{"id": id, "address": r.Host(), "port": r.Port(), "username": "admin", "password": password}
}

// newPlugin returns a plugin logging at trace into its buffer, with short
// backoffs and no background poller, shut down when the test ends.
func newPlugin(t *testing.T) (*Plugin, *sdktest.Buffer) {
	t.Helper()
	p := NewPlugin()
	log, logs := sdktest.Logger(t)
	p.log = log
	p.backoffBase, p.backoffMax = 10*time.Millisecond, 100*time.Millisecond
	p.pollEvery = 0
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p, logs
}

// configure configures p with settings (a map or a settings value).
func configure(t *testing.T, p *Plugin, s any) *sdk.ConfigureResponse {
	t.Helper()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Configure(context.Background(), &sdk.ConfigureRequest{Settings: raw})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return resp
}

// setup starts a fake router and a plugin with one location "main" on it.
func setup(t *testing.T, opts routertest.Options) (*Plugin, *routertest.Router, *sdktest.Buffer) {
	t.Helper()
	r := routertest.Start(t, opts)
	p, logs := newPlugin(t)
	configure(t, p, map[string]any{"locations": []any{loc("main", r, opts.Password)}})
	return p, r, logs
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// contextDeadline returns a function that waits a little and reports
// whether 5 seconds have passed, for polling loops.
func contextDeadline(t *testing.T) func() bool {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	return func() bool {
		time.Sleep(10 * time.Millisecond)
		return time.Now().After(end)
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantErr fails the test unless err matches every target.
func wantErr(t *testing.T, what string, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("%s: error %q does not match %v", what, err, target)
		}
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// writes counts the write commands the router received in menu.
func writes(r *routertest.Router, menu string) int {
	n := 0
	for _, verb := range []string{"add", "set", "unset", "remove", "enable", "disable"} {
		n += r.CountCommands(menu + "/" + verb)
	}
	return n
}
