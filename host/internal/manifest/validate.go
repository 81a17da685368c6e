package manifest

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/mikrobill/mikrobill/sdk"
)

var (
	namePattern     = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	platformPattern = regexp.MustCompile(`^([a-z0-9]+)-([a-z0-9]+)$`)
	eventPattern    = regexp.MustCompile(`^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.(\*|[a-z][a-z0-9_]*))$`)
	eventWord       = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	routeVarName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
)

// Platforms Go builds for, as they appear in "<GOOS>-<GOARCH>" keys.
var (
	knownGOOS = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js",
		"linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
	knownGOARCH = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le",
		"mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
	// platformAliases are names other tools use for Go's.
	platformAliases = map[string]string{"x64": "amd64", "aarch64": "arm64",
		"i386": "386", "x86": "386", "macos": "darwin", "osx": "darwin", "mac": "darwin", "win": "windows"}
)

// Validate checks a manifest built in code, or changed after [Parse], with
// the rules [Parse] applies after decoding: required fields, name and
// version syntax, executable paths, dependency constraints, routes, events,
// and that config_schema compiles. It returns every problem at once in a
// [*ValidationError], or nil.
//
// Validate does not look at the file system; [Load] checks the executable.
func (m *Manifest) Validate() error {
	return asError(m.File, sortProblems(m.check()))
}

// checker collects the problems of one manifest.
type checker struct {
	file     string
	problems []Problem
}

func (c *checker) add(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.file, Field: field, Message: fmt.Sprintf(format, args...)})
}

// check runs every semantic rule; it never stops at the first problem.
func (m *Manifest) check() []Problem {
	c := &checker{file: m.File}
	c.name(m.Name)
	c.version("version", m.Version, true)
	c.kind(m.Kind)
	c.executables(m)
	c.protocols(m.ProtocolVersions)
	c.version("min_host_version", m.MinHostVersion, false)
	c.dependencies(m.Name, m.Dependencies)
	c.environment(m.Environment)
	if m.Priority < MinPriority || m.Priority > MaxPriority {
		c.add("priority", "must be between %d and %d (lower loads first), got %d", MinPriority, MaxPriority, m.Priority)
	}
	if m.Singleton {
		c.singleton(m.Name)
	}
	if len(m.ConfigSchema) > 0 {
		if _, msgs := compileSchema(m.ConfigSchema); len(msgs) > 0 {
			for _, msg := range msgs {
				c.add("config_schema", "%s", msg)
			}
		}
	}
	c.routes(m.Routes)
	c.events(m.Events)
	return c.problems
}

func (c *checker) name(name string) {
	switch {
	case name == "":
		c.add("name", `is required: a lowercase name such as "payment-midtrans"`)
	case slices.Contains(ReservedNames, name):
		c.add("name", "%q is reserved for the host; choose another name", name)
	case !namePattern.MatchString(name):
		c.add("name", `%q is not a valid plugin name: use 2 to 63 lowercase letters, digits and '-', starting with a letter, such as "payment-midtrans"`, name)
	}
}

// singleton checks that a singleton plugin's name makes a job queue name
// (SingletonQueue): River takes lowercase letters and digits separated by
// single '-' or '_', at most 64 characters. A name that is not a plugin
// name at all is reported under "name" only.
func (c *checker) singleton(name string) {
	if !namePattern.MatchString(name) {
		return
	}
	if _, err := SingletonQueue(name); err != nil {
		c.add("singleton", "%v", err)
	}
}

func (c *checker) version(field, v string, required bool) {
	if v == "" {
		if required {
			c.add(field, `is required: a semantic version such as "1.2.0"`)
		}
		return
	}
	if _, err := semver.StrictNewVersion(v); err != nil {
		c.add(field, `%q is not a semantic version: write MAJOR.MINOR.PATCH, such as "1.2.0" or "2.0.0-rc.1"`, v)
	}
}

func (c *checker) kind(kind string) {
	switch {
	case kind == "":
		c.add("kind", "is required: one of %s", quoteList(sdk.Kinds))
	case !slices.Contains(sdk.Kinds, kind):
		c.add("kind", "%q is not a plugin kind%s; use one of %s", kind, didYouMean(kind, sdk.Kinds), quoteList(sdk.Kinds))
	}
}

func (c *checker) executables(m *Manifest) {
	if m.Executable != "" && len(m.Executables) > 0 {
		c.add("executable", `set either "executable" or "executables", not both`)
	}
	if m.Executable != "" {
		if msg := checkRelPath(m.Executable); msg != "" {
			c.add("executable", "%s", msg)
		}
	}
	for _, platform := range sortedKeys(m.Executables) {
		field := fieldPath("executables", platform)
		if msg := checkPlatform(platform); msg != "" {
			c.add(field, "%s", msg)
		}
		if msg := checkRelPath(m.Executables[platform]); msg != "" {
			c.add(field, "%s", msg)
		}
	}
}

// checkRelPath checks an executable path; it returns "" when p is fine.
func checkRelPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case strings.Contains(p, `\`):
		return fmt.Sprintf("%q: write the path with forward slashes, such as %q", p, strings.ReplaceAll(p, `\`, "/"))
	case path.IsAbs(p) || filepath.IsAbs(p) || (len(p) >= 2 && p[1] == ':'):
		return fmt.Sprintf("%q is absolute; give the path relative to the plugin folder, such as %q", p, path.Base(p))
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Sprintf(`%q leaves the plugin folder; ".." is not allowed, the executable must be inside the folder`, p)
	case !fs.ValidPath(p):
		msg := fmt.Sprintf(`%q is not a clean relative path: no "." or empty elements and no trailing "/"`, p)
		if clean := path.Clean(p); fs.ValidPath(clean) && clean != "." {
			msg += fmt.Sprintf("; write %q", clean)
		}
		return msg
	}
	return ""
}

// checkPlatform checks an executables key; it returns "" when it is fine.
func checkPlatform(platform string) string {
	if sub := platformPattern.FindStringSubmatch(platform); sub != nil &&
		slices.Contains(knownGOOS, sub[1]) && slices.Contains(knownGOARCH, sub[2]) {
		return ""
	}
	// Guess what was meant: "linux_x86_64", "Linux/aarch64", "macos-arm64".
	guess := strings.ToLower(platform)
	guess = strings.NewReplacer("x86_64", "amd64", "x86-64", "amd64").Replace(guess)
	parts := strings.FieldsFunc(guess, func(r rune) bool { return strings.ContainsRune("-_/ ", r) })
	if len(parts) == 2 {
		for i, part := range parts {
			if goName, ok := platformAliases[part]; ok {
				parts[i] = goName
			}
		}
		if slices.Contains(knownGOOS, parts[0]) && slices.Contains(knownGOARCH, parts[1]) {
			return fmt.Sprintf("%q is not a platform; did you mean %q?", platform, parts[0]+"-"+parts[1])
		}
	}
	return fmt.Sprintf(`%q is not a platform; write "<GOOS>-<GOARCH>" as Go names them, such as "linux-amd64" or "darwin-arm64"`, platform)
}

func (c *checker) protocols(versions []int) {
	if len(versions) == 0 {
		c.add("protocol_versions", "is required: list the plugin protocol versions the plugin speaks, such as [1] (the SDK's protocol version)")
		return
	}
	seen := map[int]bool{}
	for i, v := range versions {
		field := index("protocol_versions", i)
		switch {
		case v <= 0:
			c.add(field, "must be a positive protocol version, got %d", v)
		case seen[v]:
			c.add(field, "protocol version %d is listed twice", v)
		}
		seen[v] = true
	}
}

func (c *checker) dependencies(self string, deps []Dependency) {
	seen := map[string]int{}
	for i, dep := range deps {
		field := index("dependencies", i)
		capability := IsHostCapability(dep.Name)
		switch {
		case dep.Name == "":
			c.add(field+".name", `is required: a plugin name such as "audit", or a host capability: %s`, quoteList(HostCapabilities))
		case dep.Name == "host":
			c.add(field, `"host" is not a plugin; to require a host version set "min_host_version"`)
		case !capability && !namePattern.MatchString(dep.Name):
			c.add(field+".name", "%q is not a valid plugin name", dep.Name)
		case dep.Name == self:
			c.add(field, "a plugin cannot depend on itself")
		}
		if first, dup := seen[dep.Name]; dup && dep.Name != "" {
			c.add(field, "%q is listed twice (also dependencies[%d]); keep one entry", dep.Name, first)
		} else {
			seen[dep.Name] = i
		}
		if dep.Version == "" {
			continue
		}
		if capability {
			c.add(field+".version", "host capability %q takes no version constraint; remove \"version\"", dep.Name)
		} else if _, err := semver.NewConstraint(dep.Version); err != nil {
			c.add(field+".version", `%q is not a version constraint (%v); write one such as ">=1.0.0, <2.0.0" or "^1.2"`, dep.Version, err)
		}
	}
}

func (c *checker) environment(env Environment) {
	seen := map[string]bool{}
	for i, e := range env {
		field := index("environment", i)
		switch {
		case e == "":
			c.add(field, "must not be empty")
		case e == EnvAll:
			c.add(field, `"all" cannot be part of a list; write "environment": "all" instead`)
		case strings.TrimSpace(e) != e || strings.ContainsAny(e, " \t\n"):
			c.add(field, "%q must not contain spaces", e)
		case seen[e]:
			c.add(field, "%q is listed twice", e)
		}
		seen[e] = true
	}
}

func (c *checker) routes(routes []Route) {
	seen := map[string]int{}
	for i, r := range routes {
		field := index("routes", i)
		switch {
		case r.Method == "":
			c.add(field+".method", "is required: one of %s", quoteList(RouteMethods))
		case slices.Contains(RouteMethods, strings.ToUpper(r.Method)) && !slices.Contains(RouteMethods, r.Method):
			c.add(field+".method", "must be uppercase: %q", strings.ToUpper(r.Method))
		case !slices.Contains(RouteMethods, r.Method):
			c.add(field+".method", "%q is not one of %s", r.Method, quoteList(RouteMethods))
		}
		pathOK := true
		if msg := checkRoutePath(r.Path); msg != "" {
			c.add(field+".path", "%s", msg)
			pathOK = false
		}
		if r.Auth != "" && !slices.Contains(AuthLevels, r.Auth) {
			c.add(field+".auth", "%q is not an access level%s; use one of %s (default %q)", r.Auth, didYouMean(r.Auth, AuthLevels), quoteList(AuthLevels), AuthAdmin)
		}
		if !pathOK || r.Method == "" {
			continue
		}
		key := strings.ToUpper(r.Method) + " " + routeVarPattern.ReplaceAllString(r.Path, "{}")
		if first, dup := seen[key]; dup {
			c.add(field, "%s %s is declared twice (also routes[%d]); keep one", r.Method, r.Path, first)
		} else {
			seen[key] = i
		}
	}
}

// routeVarPattern matches a route variable without nested braces; it is
// used only to compare paths that checkRoutePath accepted.
var routeVarPattern = regexp.MustCompile(`\{[^{}]*(\{[^{}]*\}[^{}]*)*\}`)

// checkRoutePath checks a route path with gorilla/mux variables; it returns
// "" when p is fine.
func checkRoutePath(p string) string {
	switch {
	case p == "":
		return `is required: a path such as "/status"`
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q must start with \"/\", such as %q", p, "/"+p)
	case strings.ContainsAny(p, "?# \t\n"):
		return fmt.Sprintf("%q must be a plain path, without spaces, query or fragment", p)
	}
	// Walk the path, taking each {name} or {name:pattern} variable apart
	// the way gorilla/mux does (a pattern may itself hold braces).
	var literal strings.Builder
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '}':
			return fmt.Sprintf("%q has a \"}\" without its \"{\"", p)
		case '{':
			level, end := 0, -1
			for j := i; j < len(p) && end < 0; j++ {
				switch p[j] {
				case '{':
					level++
				case '}':
					if level--; level == 0 {
						end = j
					}
				}
			}
			if end < 0 {
				return fmt.Sprintf("%q has a \"{\" without its \"}\"", p)
			}
			if msg := checkRouteVar(p[i+1 : end]); msg != "" {
				return fmt.Sprintf("%q: %s", p, msg)
			}
			literal.WriteString("x")
			i = end
		default:
			literal.WriteByte(p[i])
		}
	}
	if slices.Contains(strings.Split(literal.String(), "/"), "..") {
		return fmt.Sprintf("%q must not contain \"..\"", p)
	}
	return ""
}

func checkRouteVar(v string) string {
	name, pattern, hasPattern := strings.Cut(v, ":")
	if !routeVarName.MatchString(name) {
		return fmt.Sprintf("variable name %q must be letters, digits, '_' or '-', such as {id}", name)
	}
	if !hasPattern {
		return ""
	}
	if pattern == "" {
		return fmt.Sprintf("variable {%s} has an empty pattern; write {%s} or {%s:[0-9]+}", name, name, name)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return fmt.Sprintf("variable {%s}: pattern %q does not compile: %v", name, pattern, err)
	}
	if re.NumSubexp() > 0 {
		return fmt.Sprintf("variable {%s}: pattern %q has a capturing group; use (?:...) instead", name, pattern)
	}
	return ""
}

func (c *checker) events(events []string) {
	seen := map[string]bool{}
	for i, e := range events {
		field := index("events", i)
		switch {
		case e == "":
			c.add(field, "must not be empty")
		case eventWord.MatchString(e):
			c.add(field, `%q is not an event type: event types are dotted lowercase names such as "invoice.paid"; to receive every %q event write %q`, e, e, e+".*")
		case !eventPattern.MatchString(e):
			c.add(field, `%q is not an event type: use dotted lowercase names such as "invoice.paid", a trailing wildcard such as "invoice.*", or "*" for every event`, e)
		case seen[e]:
			c.add(field, "%q is listed twice", e)
		}
		seen[e] = true
	}
}

// didYouMean returns ` (did you mean "x"?)` for a likely typo of one of
// known, or "".
func didYouMean(got string, known []string) string {
	if s := suggest(got, known); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// formatInts formats 1, 2 and 3 as "1, 2 and 3".
func formatInts(ns []int) string {
	s := slices.Clone(ns)
	sort.Ints(s)
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = strconv.Itoa(n)
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
