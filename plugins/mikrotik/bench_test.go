package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/go-routeros/routeros/v3"
	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

// benchSetup starts a fake router and a plugin with location "main" on it,
// logging at info (as in production) to nowhere.
func benchSetup(b *testing.B) (*Plugin, *routertest.Router) {
	b.Helper()
	r := routertest.Start(b, routertest.Options{Password: "bench-pass"})
	p := NewPlugin()
	p.log = hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: io.Discard})
	p.pollEvery = 0
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	raw, _ := json.Marshal(map[string]any{"locations": []any{loc("main", r, "bench-pass")}})
	if _, err := p.Configure(context.Background(), &sdk.ConfigureRequest{Settings: raw}); err != nil {
		b.Fatal(err)
	}
	return p, r
}

// rawClient is a bare go-routeros connection to r: the baseline, the
// router round trips alone.
func rawClient(b *testing.B, r *routertest.Router) *routeros.Client {
	b.Helper()
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		b.Fatal(err)
	}
	c, err := routeros.NewClient(conn)
	if err != nil {
		b.Fatal(err)
	}
	c.SetLogHandler(slog.NewTextHandler(io.Discard, nil))
	if err := c.Login("admin", "bench-pass"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

var benchUser = router.User{Kind: router.KindHotspot, Name: "budi", Password: "rahasia-123", Profile: "mb-home",
	LimitUptime: 3 * time.Hour, Comment: "customer 1 Budi"}

var benchProfile = router.Profile{Kind: router.KindHotspot, Name: "mb-home", RateLimit: "2M/4M", SharedUsers: 2, Comment: "plan Home"}

// provisionAgain is what a provision job that runs again (a retry, or
// `routers sync --repair`) sends: the profile and the user, both already
// as asked, so nothing is written.
func provisionAgain(ctx context.Context, p *Plugin) error {
	if res, err := p.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "main", Profile: benchProfile}); err != nil || res.Changed {
		return fmt.Errorf("ensure profile: changed %v, %v", res != nil && res.Changed, err)
	}
	if res, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: benchUser}); err != nil || res.Changed {
		return fmt.Errorf("upsert user: changed %v, %v", res != nil && res.Changed, err)
	}
	return nil
}

// rawReads are the reads provisionAgain cannot do without: one print of
// the profile and one of the user, by name.
func rawReads(c *routeros.Client) error {
	for _, s := range [][]string{
		{"/ip/hotspot/user/profile/print", "?name=mb-home"},
		{"/ip/hotspot/user/print", "?name=budi"},
	} {
		rep, err := c.RunArgs(s)
		if err != nil {
			return err
		}
		if len(rep.Re) != 1 {
			return fmt.Errorf("%v: %d rows", s, len(rep.Re))
		}
	}
	return nil
}

func seed(b *testing.B, p *Plugin) {
	b.Helper()
	ctx := context.Background()
	if _, err := p.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "main", Profile: benchProfile}); err != nil {
		b.Fatal(err)
	}
	if _, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: benchUser}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProvisionAgain: one idempotent provision (EnsureProfile and
// UpsertUser, nothing to change) against the fake router on loopback,
// through the plugin's code (in process, no gRPC).
func BenchmarkProvisionAgain(b *testing.B) {
	p, _ := benchSetup(b)
	seed(b, p)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := provisionAgain(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpsertChanged: an UpsertUser that changes the password each
// time (a print, then a set).
func BenchmarkUpsertChanged(b *testing.B) {
	p, _ := benchSetup(b)
	seed(b, p)
	ctx := context.Background()
	u := benchUser
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		u.Password = fmt.Sprintf("pass-%d", i)
		if res, err := p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: u}); err != nil || !res.Changed {
			b.Fatalf("changed %v, %v", res != nil && res.Changed, err)
		}
	}
}

// BenchmarkProvisionRatio measures an idempotent provision through the
// plugin against its baseline, the two prints it needs made on a bare
// go-routeros connection to the same fake router, interleaved in rounds
// in the same run. The ratio is the plugin's own cost (validation,
// comparing every attribute as RouterOS prints it, the serialized
// connection, metrics, logging) over the round trips it cannot avoid.
func BenchmarkProvisionRatio(b *testing.B) {
	p, r := benchSetup(b)
	seed(b, p)
	c := rawClient(b, r)
	ctx := context.Background()
	const rounds, perRound = 7, 300
	var ours, base []float64
	for b.Loop() {
		for round := range rounds {
			measure := func(f func() error) float64 {
				start := time.Now()
				for range perRound {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
				return float64(time.Since(start).Nanoseconds()) / perRound
			}
			plugin := func() error { return provisionAgain(ctx, p) }
			baseline := func() error { return rawReads(c) }
			if round%2 == 0 {
				ours = append(ours, measure(plugin))
				base = append(base, measure(baseline))
			} else {
				base = append(base, measure(baseline))
				ours = append(ours, measure(plugin))
			}
		}
	}
	median := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	o, bl := median(ours), median(base)
	b.ReportMetric(o/1e3, "plugin-µs/op")
	b.ReportMetric(bl/1e3, "baseline-µs/op")
	b.ReportMetric(o/bl, "ratio")
}
