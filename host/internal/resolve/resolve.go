// Package resolve decides the order in which the host launches plugins, and
// which plugins cannot launch because of their dependencies.
//
// Start with [Resolve]: give it the manifests that passed validation and the
// environment filter, the host capabilities this host provides, and the
// plugins that exist but will not load (with why). It returns a [Plan]:
// levels to launch one after another, each level's plugins concurrently, and
// the plugins skipped, each with a [*DependencyError] that names the chain
// of dependencies leading to the cause ("plugin "c" cannot load: its
// dependency "b" cannot load (chain: c -> b -> a): ..."). Shut down in
// [Plan.ReverseOrder].
//
// Resolve only orders; whether a skipped plugin stops the host (required) or
// leaves it degraded (optional) is the caller's decision.
package resolve

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

// Options is what Resolve needs to know besides the manifests.
type Options struct {
	// Capabilities are the host capabilities this host provides, such as
	// {"database": true, "cache": true}. A plugin that depends on a
	// capability (see manifest.HostCapabilities) missing or false here is
	// skipped.
	Capabilities map[string]bool
	// Unavailable names plugins that are installed but will not load,
	// mapped to the reason, such as "not loaded in environment production"
	// or "refused: checksum mismatch". Their dependents are skipped with
	// that reason instead of "not installed". A name that is also among
	// the plugins given to Resolve counts as available.
	Unavailable map[string]string
}

// Plan is the outcome of Resolve.
type Plan struct {
	// Levels are launched in order, the plugins within one level
	// concurrently. Level 0 holds the plugins without plugin
	// dependencies; level n those whose plugin dependencies are all in
	// earlier levels, at least one in level n-1. Within a level plugins
	// are sorted by priority (lower first), then name.
	Levels [][]*manifest.Manifest
	// Skipped are the plugins that cannot load, sorted by name (then
	// folder).
	Skipped []Skip
}

// Skip is a plugin Resolve left out of the plan.
type Skip struct {
	// Plugin is the skipped plugin's manifest.
	Plugin *manifest.Manifest
	// Err says why; it is a *DependencyError.
	Err error
}

// Reason classifies a DependencyError.
type Reason int

// The reasons a plugin cannot load.
const (
	// Missing: a plugin it depends on is not installed.
	Missing Reason = iota + 1
	// Unavailable: a plugin it depends on is installed but will not load
	// (Options.Unavailable).
	Unavailable
	// Constraint: a plugin it depends on is installed in a version the
	// dependency's constraint does not allow.
	Constraint
	// Capability: it needs a host capability this host does not provide.
	Capability
	// Cycle: it is part of a dependency cycle.
	Cycle
	// Upstream: a plugin it depends on cannot load; Err holds why.
	Upstream
	// Duplicate: two plugin folders declare the same name, and the host
	// cannot tell which one to load.
	Duplicate
)

var reasonNames = map[Reason]string{
	Missing: "missing", Unavailable: "unavailable", Constraint: "constraint",
	Capability: "capability", Cycle: "cycle", Upstream: "upstream", Duplicate: "duplicate",
}

// String returns the reason's lowercase name, such as "missing".
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// DependencyError says why a plugin cannot load.
type DependencyError struct {
	// Plugin is the plugin that cannot load.
	Plugin string
	// Chain is the path from Plugin to the cause: Plugin, the dependency
	// it names, that plugin's dependency, and so on. For a cycle it runs
	// around the cycle back to Plugin: [a b c a]. For a capability it ends
	// with the capability's name.
	Chain []string
	// Reason classifies the cause.
	Reason Reason
	// Err is the dependency's own *DependencyError when Reason is
	// Upstream, nil otherwise.
	Err error

	msg string
}

// Error says which plugin cannot load, the chain, and the root cause.
func (e *DependencyError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("plugin %q cannot load: %s (chain: %s)", e.Plugin, e.Reason, strings.Join(e.Chain, " -> "))
}

// Unwrap returns Err, so errors.As walks down an Upstream chain.
func (e *DependencyError) Unwrap() error { return e.Err }

// Root follows Upstream errors down to the plugin where the trouble starts
// and returns its error (e itself when Reason is not Upstream).
func (e *DependencyError) Root() *DependencyError {
	for e.Reason == Upstream {
		up, ok := e.Err.(*DependencyError)
		if !ok {
			break
		}
		e = up
	}
	return e
}

// Order returns the plugin names in launch order: level by level, each level
// in its sorted order.
func (p *Plan) Order() []string {
	var names []string
	for _, level := range p.Levels {
		for _, m := range level {
			names = append(names, m.Name)
		}
	}
	return names
}

// ReverseOrder returns Order reversed: the order to shut plugins down in, so
// that no plugin stops before the plugins that depend on it.
func (p *Plan) ReverseOrder() []string {
	names := p.Order()
	slices.Reverse(names)
	return names
}

// Resolve orders plugins by their dependencies; see [Plan]. The manifests
// should have passed [manifest.Manifest.Validate]; nil entries are ignored.
// Resolve is deterministic: the same plugins in any order give the same
// plan.
//
// A plugin is skipped, with a *DependencyError, when a plugin it depends on
// is not installed, is unavailable, has a version its constraint rejects,
// or is skipped itself; when it needs a host capability that is missing;
// when it is part of a dependency cycle; or when another plugin folder has
// the same name. When several dependencies fail, the first in the
// manifest's order is reported.
func Resolve(plugins []*manifest.Manifest, opts Options) *Plan {
	r := &resolver{
		opts:   opts,
		byName: map[string]*manifest.Manifest{},
		errs:   map[string]*DependencyError{},
		level:  map[string]int{},
	}
	plan := &Plan{}
	for name, group := range groupByName(plugins) {
		if len(group) == 1 {
			r.byName[name] = group[0]
			continue
		}
		err := duplicateError(name, group)
		r.errs[name] = err
		for _, m := range group {
			plan.Skipped = append(plan.Skipped, Skip{Plugin: m, Err: err})
		}
	}
	for _, scc := range r.components() {
		if r.isCycle(scc) {
			r.cycle(scc)
			continue
		}
		r.place(r.byName[scc[0]])
	}

	for _, name := range sortedKeys(r.byName) {
		m := r.byName[name]
		if err, skipped := r.errs[name]; skipped {
			plan.Skipped = append(plan.Skipped, Skip{Plugin: m, Err: err})
			continue
		}
		lvl := r.level[name]
		for len(plan.Levels) <= lvl {
			plan.Levels = append(plan.Levels, nil)
		}
		plan.Levels[lvl] = append(plan.Levels[lvl], m)
	}
	for _, level := range plan.Levels {
		sort.SliceStable(level, func(i, j int) bool {
			if level[i].Priority != level[j].Priority {
				return level[i].Priority < level[j].Priority
			}
			return level[i].Name < level[j].Name
		})
	}
	sort.SliceStable(plan.Skipped, func(i, j int) bool {
		a, b := plan.Skipped[i].Plugin, plan.Skipped[j].Plugin
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Dir < b.Dir
	})
	return plan
}

type resolver struct {
	opts   Options
	byName map[string]*manifest.Manifest // plugins with a unique name
	errs   map[string]*DependencyError   // why a plugin cannot load; duplicates included
	level  map[string]int                // the level of each plugin that can load
}

// pluginDeps returns the names of m's plugin (not capability) dependencies
// that are installed, in the manifest's order: the edges of the graph.
func (r *resolver) pluginDeps(m *manifest.Manifest) []string {
	var deps []string
	for _, d := range m.Dependencies {
		if _, ok := r.byName[d.Name]; ok && !manifest.IsHostCapability(d.Name) {
			deps = append(deps, d.Name)
		}
	}
	return deps
}

// components returns the strongly connected components of the dependency
// graph (Tarjan's algorithm), dependencies before dependents, each
// component sorted by name.
func (r *resolver) components() [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	var visit func(name string)
	visit = func(name string) {
		index[name] = len(index)
		low[name] = index[name]
		stack = append(stack, name)
		onStack[name] = true
		for _, dep := range r.pluginDeps(r.byName[name]) {
			if _, seen := index[dep]; !seen {
				visit(dep)
				low[name] = min(low[name], low[dep])
			} else if onStack[dep] {
				low[name] = min(low[name], index[dep])
			}
		}
		if low[name] != index[name] {
			return
		}
		var scc []string
		for {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[top] = false
			scc = append(scc, top)
			if top == name {
				break
			}
		}
		sort.Strings(scc)
		out = append(out, scc)
	}
	for _, name := range sortedKeys(r.byName) {
		if _, seen := index[name]; !seen {
			visit(name)
		}
	}
	return out
}

func (r *resolver) isCycle(scc []string) bool {
	return len(scc) > 1 || slices.Contains(r.pluginDeps(r.byName[scc[0]]), scc[0])
}

// cycle skips every member of a dependency cycle. All share one message,
// the cycle from its alphabetically first member; each member's Chain
// starts and ends at the member.
func (r *resolver) cycle(scc []string) {
	canonical := r.cyclePath(scc[0], scc)
	msg := "dependency cycle: " + strings.Join(canonical, " -> ")
	for _, name := range scc {
		r.errs[name] = &DependencyError{Plugin: name, Chain: r.cyclePath(name, scc), Reason: Cycle, msg: msg}
	}
}

// cyclePath returns a shortest path from start through the component back to
// start (breadth first, neighbours in name order).
func (r *resolver) cyclePath(start string, scc []string) []string {
	prev := map[string]string{}
	queue := []string{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		deps := r.pluginDeps(r.byName[cur])
		sort.Strings(deps)
		for _, dep := range deps {
			if !slices.Contains(scc, dep) {
				continue
			}
			if dep == start {
				path := []string{start}
				for n := cur; n != start; n = prev[n] {
					path = append(path, n)
				}
				slices.Reverse(path[1:])
				return append(path, start)
			}
			if _, seen := prev[dep]; !seen {
				prev[dep] = cur
				queue = append(queue, dep)
			}
		}
	}
	return []string{start, start} // unreachable for a real cycle
}

// place decides whether m can load, after all its dependencies have been
// decided, and records its level or its error.
func (r *resolver) place(m *manifest.Manifest) {
	level := 0
	for _, dep := range m.Dependencies {
		if err := r.checkDependency(m, dep); err != nil {
			r.errs[m.Name] = err
			return
		}
		if !manifest.IsHostCapability(dep.Name) {
			level = max(level, r.level[dep.Name]+1)
		}
	}
	r.level[m.Name] = level
}

// checkDependency returns why dep keeps m from loading, or nil.
func (r *resolver) checkDependency(m *manifest.Manifest, dep manifest.Dependency) *DependencyError {
	chain := []string{m.Name, dep.Name}
	fail := func(reason Reason, format string, args ...any) *DependencyError {
		return &DependencyError{Plugin: m.Name, Chain: chain, Reason: reason, msg: fmt.Sprintf(format, args...)}
	}
	if manifest.IsHostCapability(dep.Name) {
		if !r.opts.Capabilities[dep.Name] {
			return fail(Capability, "plugin %q needs the host capability %q, which this host does not provide", m.Name, dep.Name)
		}
		return nil
	}
	target, installed := r.byName[dep.Name]
	if !installed {
		if _, dup := r.errs[dep.Name]; !dup {
			if why, ok := r.opts.Unavailable[dep.Name]; ok {
				return fail(Unavailable, "plugin %q cannot load: it depends on %q, which will not load: %s (chain: %s)",
					m.Name, dep.Name, why, strings.Join(chain, " -> "))
			}
			return fail(Missing, "plugin %q cannot load: it depends on %q, which is not installed (chain: %s)",
				m.Name, dep.Name, strings.Join(chain, " -> "))
		}
	}
	if installed && dep.Version != "" {
		if err := checkConstraint(m.Name, dep, target); err != "" {
			return fail(Constraint, "%s (chain: %s)%s", err, strings.Join(chain, " -> "), prereleaseHint(target, dep))
		}
	}
	if up, skipped := r.errs[dep.Name]; skipped {
		chain = append([]string{m.Name}, up.Chain...)
		return &DependencyError{Plugin: m.Name, Chain: chain, Reason: Upstream, Err: up,
			msg: fmt.Sprintf("plugin %q cannot load: its dependency %q cannot load (chain: %s): %s",
				m.Name, dep.Name, strings.Join(chain, " -> "), up.Root().Error())}
	}
	return nil
}

// checkConstraint returns why target does not satisfy dep's constraint, or
// "".
func checkConstraint(plugin string, dep manifest.Dependency, target *manifest.Manifest) string {
	c, err := semver.NewConstraint(dep.Version)
	if err != nil {
		return fmt.Sprintf("plugin %q has an invalid version constraint %q on %q: %v", plugin, dep.Version, dep.Name, err)
	}
	v, err := semver.NewVersion(target.Version)
	if err != nil {
		return fmt.Sprintf("plugin %q needs %q %s, but %q has the invalid version %q", plugin, dep.Name, dep.Version, dep.Name, target.Version)
	}
	if !c.Check(v) {
		return fmt.Sprintf("plugin %q needs %q %s, but %q %s is installed", plugin, dep.Name, dep.Version, dep.Name, target.Version)
	}
	return ""
}

// prereleaseHint explains why a pre-release seemingly inside a range fails.
func prereleaseHint(target *manifest.Manifest, dep manifest.Dependency) string {
	v, err := semver.NewVersion(target.Version)
	if err != nil || v.Prerelease() == "" {
		return ""
	}
	return fmt.Sprintf("; a pre-release such as %s satisfies a constraint only when the constraint names a pre-release, such as \">=%d.%d.%d-0\"",
		target.Version, v.Major(), v.Minor(), v.Patch())
}

func duplicateError(name string, group []*manifest.Manifest) *DependencyError {
	var where []string
	for _, m := range group {
		dir := m.Dir
		if dir == "" {
			dir = "(no folder)"
		}
		where = append(where, dir)
	}
	sort.Strings(where)
	return &DependencyError{Plugin: name, Chain: []string{name}, Reason: Duplicate,
		msg: fmt.Sprintf("plugin %q is installed %d times (%s); remove all but one of these folders",
			name, len(group), strings.Join(where, ", "))}
}

func groupByName(plugins []*manifest.Manifest) map[string][]*manifest.Manifest {
	groups := map[string][]*manifest.Manifest{}
	for _, m := range plugins {
		if m != nil {
			groups[m.Name] = append(groups[m.Name], m)
		}
	}
	return groups
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
