package resolve_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/resolve"
	"github.com/mikrobill/mikrobill/sdk"
)

// plugin builds a manifest. deps are names, or "name constraint" such as
// "audit >=1.0.0, <2.0.0".
func plugin(name, version string, priority int, deps ...string) *manifest.Manifest {
	m := &manifest.Manifest{Name: name, Version: version, Kind: sdk.KindGeneric,
		ProtocolVersions: []int{1}, Priority: priority, Dir: "plugins/" + name}
	for _, d := range deps {
		n, c, _ := strings.Cut(d, " ")
		m.Dependencies = append(m.Dependencies, manifest.Dependency{Name: n, Version: c})
	}
	return m
}

// p is plugin with version 1.0.0 and the default priority.
func p(name string, deps ...string) *manifest.Manifest {
	return plugin(name, "1.0.0", manifest.DefaultPriority, deps...)
}

type skipped struct {
	Plugin  string
	Reason  resolve.Reason
	Chain   []string
	Message string
}

type summary struct {
	Levels  [][]string
	Skipped []skipped
}

func summarize(t *testing.T, plan *resolve.Plan) summary {
	t.Helper()
	var s summary
	for _, level := range plan.Levels {
		var names []string
		for _, m := range level {
			names = append(names, m.Name)
		}
		s.Levels = append(s.Levels, names)
	}
	for _, sk := range plan.Skipped {
		var de *resolve.DependencyError
		if !errors.As(sk.Err, &de) {
			t.Fatalf("skip %s: error is %T, want *resolve.DependencyError: %v", sk.Plugin.Name, sk.Err, sk.Err)
		}
		if de.Plugin != sk.Plugin.Name {
			t.Errorf("skip %s: DependencyError.Plugin = %q", sk.Plugin.Name, de.Plugin)
		}
		s.Skipped = append(s.Skipped, skipped{Plugin: sk.Plugin.Name, Reason: de.Reason, Chain: de.Chain, Message: sk.Err.Error()})
	}
	return s
}

var allCapabilities = map[string]bool{"database": true, "cache": true}

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		plugins []*manifest.Manifest
		opts    resolve.Options
		want    summary
	}{
		{name: "nothing"},
		{
			name: "order across levels",
			plugins: []*manifest.Manifest{
				p("notify", "billing"), p("billing", "audit"), p("audit"), p("router"), p("report", "audit"),
			},
			want: summary{Levels: [][]string{{"audit", "router"}, {"billing", "report"}, {"notify"}}},
		},
		{
			name: "a plugin waits for its deepest dependency",
			plugins: []*manifest.Manifest{
				p("a"), p("b", "a"), p("c", "a"), p("d", "b", "c"), p("e", "a", "d"),
			},
			want: summary{Levels: [][]string{{"a"}, {"b", "c"}, {"d"}, {"e"}}},
		},
		{
			name: "priority then name within a level",
			plugins: []*manifest.Manifest{
				plugin("y", "1.0.0", 100), plugin("x", "1.0.0", 10), plugin("a", "1.0.0", 100),
				plugin("z", "1.0.0", 0), plugin("late", "1.0.0", 0, "z"), plugin("early", "1.0.0", 1000, "z"),
			},
			want: summary{Levels: [][]string{{"z", "x", "a", "y"}, {"late", "early"}}},
		},
		{
			name:    "host capabilities present do not add a level",
			plugins: []*manifest.Manifest{p("audit", "database", "cache"), p("billing", "database", "audit")},
			opts:    resolve.Options{Capabilities: allCapabilities},
			want:    summary{Levels: [][]string{{"audit"}, {"billing"}}},
		},
		{
			name:    "host capability missing",
			plugins: []*manifest.Manifest{p("a", "cache", "database"), p("b", "a"), p("c")},
			opts:    resolve.Options{Capabilities: map[string]bool{"cache": true, "database": false}},
			want: summary{
				Levels: [][]string{{"c"}},
				Skipped: []skipped{
					{"a", resolve.Capability, []string{"a", "database"},
						`plugin "a" needs the host capability "database", which this host does not provide`},
					{"b", resolve.Upstream, []string{"b", "a", "database"},
						`plugin "b" cannot load: its dependency "a" cannot load (chain: b -> a -> database): plugin "a" needs the host capability "database", which this host does not provide`},
				},
			},
		},
		{
			name:    "missing dependency",
			plugins: []*manifest.Manifest{p("billing-x", "audit")},
			want: summary{Skipped: []skipped{
				{"billing-x", resolve.Missing, []string{"billing-x", "audit"},
					`plugin "billing-x" cannot load: it depends on "audit", which is not installed (chain: billing-x -> audit)`},
			}},
		},
		{
			name:    "unavailable dependency",
			plugins: []*manifest.Manifest{p("billing-x", "audit")},
			opts:    resolve.Options{Unavailable: map[string]string{"audit": "not loaded in environment production"}},
			want: summary{Skipped: []skipped{
				{"billing-x", resolve.Unavailable, []string{"billing-x", "audit"},
					`plugin "billing-x" cannot load: it depends on "audit", which will not load: not loaded in environment production (chain: billing-x -> audit)`},
			}},
		},
		{
			name:    "a plugin given to Resolve is available even if listed unavailable",
			plugins: []*manifest.Manifest{p("billing", "audit"), p("audit")},
			opts:    resolve.Options{Unavailable: map[string]string{"audit": "stale entry"}},
			want:    summary{Levels: [][]string{{"audit"}, {"billing"}}},
		},
		{
			name:    "transitive",
			plugins: []*manifest.Manifest{p("d", "c"), p("c", "b"), p("b", "a"), p("ok")},
			want: summary{
				Levels: [][]string{{"ok"}},
				Skipped: []skipped{
					{"b", resolve.Missing, []string{"b", "a"},
						`plugin "b" cannot load: it depends on "a", which is not installed (chain: b -> a)`},
					{"c", resolve.Upstream, []string{"c", "b", "a"},
						`plugin "c" cannot load: its dependency "b" cannot load (chain: c -> b -> a): plugin "b" cannot load: it depends on "a", which is not installed (chain: b -> a)`},
					{"d", resolve.Upstream, []string{"d", "c", "b", "a"},
						`plugin "d" cannot load: its dependency "c" cannot load (chain: d -> c -> b -> a): plugin "b" cannot load: it depends on "a", which is not installed (chain: b -> a)`},
				},
			},
		},
		{
			name:    "unmet version constraint",
			plugins: []*manifest.Manifest{p("a", "b >=2.0.0"), plugin("b", "1.4.0", 100)},
			want: summary{
				Levels: [][]string{{"b"}},
				Skipped: []skipped{
					{"a", resolve.Constraint, []string{"a", "b"},
						`plugin "a" needs "b" >=2.0.0, but "b" 1.4.0 is installed (chain: a -> b)`},
				},
			},
		},
		{
			name:    "met version constraint",
			plugins: []*manifest.Manifest{p("a", "b >=1.0.0, <2.0.0"), p("c", "b ^1.2"), plugin("b", "1.4.0", 100)},
			want:    summary{Levels: [][]string{{"b"}, {"a", "c"}}},
		},
		{
			name:    "pre-release outside a plain constraint",
			plugins: []*manifest.Manifest{p("a", "b >=2.0.0"), plugin("b", "2.1.0-beta.1", 100), p("c", "b >=2.1.0-0")},
			want: summary{
				Levels: [][]string{{"b"}, {"c"}},
				Skipped: []skipped{
					{"a", resolve.Constraint, []string{"a", "b"},
						`plugin "a" needs "b" >=2.0.0, but "b" 2.1.0-beta.1 is installed (chain: a -> b); a pre-release such as 2.1.0-beta.1 satisfies a constraint only when the constraint names a pre-release, such as ">=2.1.0-0"`},
				},
			},
		},
		{
			name:    "cycle of two",
			plugins: []*manifest.Manifest{p("b", "a"), p("a", "b"), p("c")},
			want: summary{
				Levels: [][]string{{"c"}},
				Skipped: []skipped{
					{"a", resolve.Cycle, []string{"a", "b", "a"}, "dependency cycle: a -> b -> a"},
					{"b", resolve.Cycle, []string{"b", "a", "b"}, "dependency cycle: a -> b -> a"},
				},
			},
		},
		{
			name: "cycle of three and a dependent",
			plugins: []*manifest.Manifest{
				p("a", "b"), p("b", "c"), p("c", "a", "e"), p("d", "b"), p("e"),
			},
			want: summary{
				Levels: [][]string{{"e"}},
				Skipped: []skipped{
					{"a", resolve.Cycle, []string{"a", "b", "c", "a"}, "dependency cycle: a -> b -> c -> a"},
					{"b", resolve.Cycle, []string{"b", "c", "a", "b"}, "dependency cycle: a -> b -> c -> a"},
					{"c", resolve.Cycle, []string{"c", "a", "b", "c"}, "dependency cycle: a -> b -> c -> a"},
					{"d", resolve.Upstream, []string{"d", "b", "c", "a", "b"},
						`plugin "d" cannot load: its dependency "b" cannot load (chain: d -> b -> c -> a -> b): dependency cycle: a -> b -> c -> a`},
				},
			},
		},
		{
			name:    "self dependency is a cycle",
			plugins: []*manifest.Manifest{p("a", "a")},
			want: summary{Skipped: []skipped{
				{"a", resolve.Cycle, []string{"a", "a"}, "dependency cycle: a -> a"},
			}},
		},
		{
			name: "same name in two folders",
			plugins: []*manifest.Manifest{
				p("audit"), {Name: "audit", Version: "2.0.0", Priority: 100, Dir: "plugins/audit-v2"}, p("billing", "audit"),
			},
			want: summary{Skipped: []skipped{
				{"audit", resolve.Duplicate, []string{"audit"},
					`plugin "audit" is installed 2 times (plugins/audit, plugins/audit-v2); remove all but one of these folders`},
				{"audit", resolve.Duplicate, []string{"audit"},
					`plugin "audit" is installed 2 times (plugins/audit, plugins/audit-v2); remove all but one of these folders`},
				{"billing", resolve.Upstream, []string{"billing", "audit"},
					`plugin "billing" cannot load: its dependency "audit" cannot load (chain: billing -> audit): plugin "audit" is installed 2 times (plugins/audit, plugins/audit-v2); remove all but one of these folders`},
			}},
		},
		{
			name:    "the first failing dependency in manifest order is reported",
			plugins: []*manifest.Manifest{p("a", "x", "y")},
			opts:    resolve.Options{Unavailable: map[string]string{"x": "refused: checksum mismatch"}},
			want: summary{Skipped: []skipped{
				{"a", resolve.Unavailable, []string{"a", "x"},
					`plugin "a" cannot load: it depends on "x", which will not load: refused: checksum mismatch (chain: a -> x)`},
			}},
		},
		{
			name:    "nil entries are ignored",
			plugins: []*manifest.Manifest{nil, p("a"), nil},
			want:    summary{Levels: [][]string{{"a"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(t, resolve.Resolve(tt.plugins, tt.opts))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDependencyErrorChain(t *testing.T) {
	plan := resolve.Resolve([]*manifest.Manifest{p("c", "b"), p("b", "a")}, resolve.Options{})
	var c *manifest.Manifest
	var err error
	for _, s := range plan.Skipped {
		if s.Plugin.Name == "c" {
			c, err = s.Plugin, s.Err
		}
	}
	if c == nil {
		t.Fatalf("c was not skipped: %+v", plan)
	}
	var de *resolve.DependencyError
	if !errors.As(err, &de) || de.Reason != resolve.Upstream {
		t.Fatalf("c's error = %v, want an Upstream *DependencyError", err)
	}
	root := de.Root()
	if root.Plugin != "b" || root.Reason != resolve.Missing {
		t.Errorf("Root() = %q %v, want b missing", root.Plugin, root.Reason)
	}
	var up *resolve.DependencyError
	if !errors.As(de.Unwrap(), &up) || up != root {
		t.Errorf("Unwrap() = %v, want b's error", de.Unwrap())
	}
	if got := resolve.Missing.String(); got != "missing" {
		t.Errorf("Missing.String() = %q", got)
	}
}

func TestOrder(t *testing.T) {
	plan := resolve.Resolve([]*manifest.Manifest{
		p("notify", "billing"), p("billing", "audit"), p("audit"), plugin("router", "1.0.0", 5),
	}, resolve.Options{})
	if diff := cmp.Diff([]string{"router", "audit", "billing", "notify"}, plan.Order()); diff != "" {
		t.Errorf("Order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"notify", "billing", "audit", "router"}, plan.ReverseOrder()); diff != "" {
		t.Errorf("ReverseOrder (-want +got):\n%s", diff)
	}
}

// The same plugins in any order give the same plan.
func TestResolveDeterministic(t *testing.T) {
	plugins := []*manifest.Manifest{
		p("audit", "database"), plugin("billing", "1.3.0", 50, "audit >=1.0.0", "cache"),
		p("notify-whatsapp", "billing"), plugin("payment-midtrans", "1.0.0", 10, "billing", "audit"),
		p("payment-tripay", "billing", "audit"), p("router-mikrotik"), plugin("metrics", "1.0.0", 0),
		p("cyc-a", "cyc-b"), p("cyc-b", "cyc-c"), p("cyc-c", "cyc-a"), p("cyc-user", "cyc-c"),
		p("needs-missing", "ghost"), p("needs-offline", "offline"), p("chain", "needs-missing"),
		p("too-new", "billing >=2.0.0"), p("no-redis", "cache"),
	}
	opts := resolve.Options{
		Capabilities: map[string]bool{"database": true, "cache": true},
		Unavailable:  map[string]string{"offline": "not loaded in environment production"},
	}
	want := summarize(t, resolve.Resolve(plugins, opts))
	if len(want.Levels) != 3 || len(want.Skipped) != 8 {
		t.Fatalf("unexpected baseline plan: %+v", want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 {
		shuffled := append([]*manifest.Manifest(nil), plugins...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		got := summarize(t, resolve.Resolve(shuffled, opts))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("shuffle %d: plan differs (-first +shuffled):\n%s", i, diff)
		}
	}
}
