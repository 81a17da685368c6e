package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mikrobill/mikrobill/host/internal/jsonkeys"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// docsHint points a person at the manifest's documentation.
const docsHint = "see docs/plugin-manifest.md"

// fieldOrder is every top-level field, in the order problems are reported.
var fieldOrder = []string{
	"name", "version", "kind", "description", "executable", "executables",
	"protocol_versions", "min_host_version", "dependencies", "environment",
	"required", "priority", "singleton", "config_schema", "routes", "events",
}

var (
	dependencyFields = []string{"name", "version"}
	routeFields      = []string{"method", "path", "auth"}
)

// Bounds on what a manifest holds. The file itself is at most
// client.MaxManifestSize (1 MiB).
const (
	// MaxNameLength bounds a name: the plugin's, a dependency's, an
	// environment's, a platform key.
	MaxNameLength = 64
	// MaxDescriptionLength bounds the description.
	MaxDescriptionLength = 4096
	// MaxStringLength bounds every other string (versions, constraints,
	// paths, routes, events).
	MaxStringLength = 1024
	// maxProblems is how many problems one manifest reports; the rest are
	// counted in a last line.
	maxProblems = 50
)

// Load reads dir/plugin.json, checks it as [Parse] does, and also checks
// that the executable for this platform (runtime.GOOS, runtime.GOARCH) is in
// dir, is a regular file and is executable; those problems are on field
// "executable". It sets the manifest's Dir and File.
//
// plugin.json must be a regular file (or a link to one) of at most 1 MiB
// ([client.ReadManifestFile]); anything else is an error for this plugin
// alone. A missing plugin.json is an error that wraps [fs.ErrNotExist]. Problems
// with the content come back as a [*ValidationError], together with the
// manifest as far as it could be read (nil only when plugin.json is not a
// JSON object), so the caller can still name the plugin it refuses.
func Load(dir string) (*Manifest, error) {
	return load(dir, runtime.GOOS, runtime.GOARCH)
}

func load(dir, goos, goarch string) (*Manifest, error) {
	file := filepath.Join(dir, FileName)
	// Shared with the conformance kit: a regular file of at most 1 MiB, so a
	// named pipe, /dev/zero or a huge file is refused without blocking.
	data, err := client.ReadManifestFile(file)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read plugin manifest: %w", err)
		}
		if _, serr := os.Stat(dir); serr != nil {
			return nil, fmt.Errorf("plugin folder: %w", serr)
		}
		return nil, fmt.Errorf("%s: %w: every plugin folder needs a %s manifest beside the plugin's "+
			"executable (the plugin's publisher ships one; %s)", file, fs.ErrNotExist, FileName, docsHint)
	}
	m, problems := parse(file, data)
	if m == nil {
		return nil, asError(file, problems)
	}
	m.Dir = dir
	// Checking a path the manifest got wrong would only repeat its problem.
	usesDefault := m.Executable == "" && len(m.Executables) == 0
	if !hasProblemOn(problems, "executable", "executables") && !(usesDefault && hasProblemOn(problems, "name")) {
		problems = append(problems, checkExecutable(m, goos, goarch)...)
	}
	return m, asError(file, sortProblems(problems))
}

// checkExecutable checks the executable for goos/goarch in m.Dir: it must
// be a regular, executable file inside the folder, also after following
// symbolic links.
func checkExecutable(m *Manifest, goos, goarch string) []Problem {
	bad := func(format string, args ...any) []Problem {
		return []Problem{{File: m.File, Field: "executable", Message: fmt.Sprintf(format, args...)}}
	}
	rel, err := m.ExecutableFor(goos, goarch)
	if err != nil {
		return bad("ships no executable for %s-%s, only for %s; get a build for %s-%s from the plugin's publisher",
			goos, goarch, strings.Join(m.Platforms(), ", "), goos, goarch)
	}
	path := filepath.Join(m.Dir, filepath.FromSlash(rel))
	if target := outside(m.Dir, path); target != "" {
		return bad("%q is a symbolic link to %s, outside the plugin folder; the host runs only what is inside the "+
			"folder, which plugins.lock pins: put the executable itself in the folder", rel, target)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hint := `or set "executable" to its path relative to the folder`
		if len(m.Executables) > 0 {
			hint = fmt.Sprintf(`or fix "executables.%s-%s"`, goos, goarch)
		}
		return bad("%q not found in %s; put the plugin's executable there, %s", rel, m.Dir, hint)
	case err != nil:
		return bad("cannot inspect %q: %v", rel, err)
	case fi.IsDir():
		return bad("%q is a directory, not an executable file", rel)
	case !fi.Mode().IsRegular():
		return bad("%q is not a regular file (mode %s)", rel, fi.Mode())
	case goos != "windows" && runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0:
		return bad("%q is not executable; run: chmod +x %s", rel, path)
	}
	return nil
}

// outside returns where path really is when symbolic links take it out of
// dir, or "" when it stays inside (or does not resolve: the caller reports
// that).
func outside(dir, path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return real
	}
	return ""
}

// Parse reads a manifest from data; file is the path to name in problems
// (it becomes the manifest's File). Parse is strict: unknown fields, values
// of the wrong type and keys set twice are problems, as is everything
// [Manifest.Validate] checks. Every problem is reported at once in a
// [*ValidationError].
//
// Parse sets the defaults of absent fields: Priority 100 and each route's
// Auth "admin". Like [Load], it returns the manifest as far as it could be
// read together with a *ValidationError, and nil only when data is not a
// JSON object.
func Parse(file string, data []byte) (*Manifest, error) {
	m, problems := parse(file, data)
	return m, asError(file, problems)
}

func parse(file string, data []byte) (*Manifest, []Problem) {
	d := &decoder{file: file, failed: failedSet{}}
	if len(bytes.TrimSpace(data)) == 0 {
		d.add("", "file is empty; a manifest is a JSON object with at least name, version, kind and protocol_versions (%s)", docsHint)
		return nil, d.problems
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := position(data, syn.Offset)
			d.add("", "is not valid JSON: %v (line %d, column %d)", syn, line, col)
		case errors.As(err, &typ):
			d.add("", "must be a JSON object, got %s", jsonType(bytes.TrimSpace(data)))
		default:
			d.add("", "is not valid JSON: %v", err)
		}
		return nil, d.problems
	}
	if fields == nil { // the file says null
		d.add("", "must be a JSON object, got null")
		return nil, d.problems
	}
	m := &Manifest{File: file, Priority: DefaultPriority}
	d.duplicateKeys(data)
	for _, key := range sortedKeys(fields) {
		if !slices.Contains(fieldOrder, key) {
			d.unknown(key, key, fieldOrder)
		}
	}
	for _, key := range fieldOrder {
		raw, ok := fields[key]
		if !ok {
			continue
		}
		d.field(m, key, raw)
	}
	for _, p := range m.check() {
		if !d.failed.covers(p.Field) {
			d.problems = append(d.problems, p)
		}
	}
	return m, sortProblems(d.problems)
}

// field decodes one top-level field into m.
func (d *decoder) field(m *Manifest, key string, raw json.RawMessage) {
	switch key {
	case "name":
		m.Name, _ = d.str(key, raw)
	case "version":
		m.Version, _ = d.str(key, raw)
	case "kind":
		m.Kind, _ = d.str(key, raw)
	case "description":
		m.Description, _ = d.str(key, raw)
	case "executable":
		if s, ok := d.str(key, raw); ok {
			m.Executable = s
			if s == "" {
				d.fail(key, "must not be empty; leave it out to use the default %q", m.DefaultExecutable())
			}
		}
	case "executables":
		obj, keys, ok := d.object(key, raw)
		if !ok {
			return
		}
		if len(obj) == 0 {
			d.fail(key, `must map at least one platform such as "linux-amd64" to a path; leave it out to use "executable"`)
			return
		}
		m.Executables = make(map[string]string, len(obj))
		for _, k := range keys {
			if len(k) > MaxNameLength {
				d.fail(fieldPath(key, k), "is a platform key of %d bytes; write \"<GOOS>-<GOARCH>\", such as \"linux-amd64\"", len(k))
				continue
			}
			m.Executables[k], _ = d.str(fieldPath(key, k), obj[k])
		}
	case "protocol_versions":
		items, ok := d.array(key, raw)
		if !ok {
			return
		}
		m.ProtocolVersions = make([]int, len(items))
		for i, it := range items {
			m.ProtocolVersions[i], _ = d.integer(index(key, i), it)
		}
	case "min_host_version":
		m.MinHostVersion, _ = d.str(key, raw)
	case "dependencies":
		items, ok := d.array(key, raw)
		if !ok {
			return
		}
		m.Dependencies = make([]Dependency, len(items))
		for i, it := range items {
			m.Dependencies[i] = d.dependency(index(key, i), it)
		}
	case "environment":
		m.Environment = d.environment(key, raw)
	case "required":
		m.Required, m.RequiredIn = d.required(key, raw)
	case "priority":
		if n, ok := d.integer(key, raw); ok {
			m.Priority = n
		}
	case "singleton":
		m.Singleton, _ = d.boolean(key, raw)
	case "config_schema":
		m.ConfigSchema = slices.Clone(raw)
	case "routes":
		items, ok := d.array(key, raw)
		if !ok {
			return
		}
		m.Routes = make([]Route, len(items))
		for i, it := range items {
			m.Routes[i] = d.route(index(key, i), it)
		}
	case "events":
		items, ok := d.array(key, raw)
		if !ok {
			return
		}
		m.Events = make([]string, len(items))
		for i, it := range items {
			m.Events[i], _ = d.str(index(key, i), it)
		}
	}
}

func (d *decoder) dependency(path string, raw json.RawMessage) Dependency {
	switch jsonType(raw) {
	case "string":
		name, _ := d.str(path, raw)
		return Dependency{Name: name}
	case "object":
		obj, keys, _ := d.object(path, raw)
		for _, k := range keys {
			if !slices.Contains(dependencyFields, k) {
				d.unknown(path, k, dependencyFields)
			}
		}
		var dep Dependency
		if v, ok := obj["name"]; ok {
			dep.Name, _ = d.str(path+".name", v)
		}
		if v, ok := obj["version"]; ok {
			dep.Version, _ = d.str(path+".version", v)
		}
		return dep
	default:
		d.fail(path, `must be a name such as "audit" or an object such as {"name": "audit", "version": ">=1.0.0"}, got %s`, jsonType(raw))
		return Dependency{}
	}
}

func (d *decoder) route(path string, raw json.RawMessage) Route {
	obj, keys, ok := d.object(path, raw)
	if !ok {
		return Route{}
	}
	for _, k := range keys {
		if !slices.Contains(routeFields, k) {
			d.unknown(path, k, routeFields)
		}
	}
	r := Route{Auth: AuthAdmin}
	if v, ok := obj["method"]; ok {
		r.Method, _ = d.str(path+".method", v)
	}
	if v, ok := obj["path"]; ok {
		r.Path, _ = d.str(path+".path", v)
	}
	if v, ok := obj["auth"]; ok {
		if r.Auth, ok = d.str(path+".auth", v); ok && r.Auth == "" {
			d.fail(path+".auth", "must be one of %s; leave it out for %q", quoteList(AuthLevels), AuthAdmin)
		}
	}
	return r
}

func (d *decoder) environment(key string, raw json.RawMessage) Environment {
	switch jsonType(raw) {
	case "string":
		s, ok := d.str(key, raw)
		if !ok {
			return nil
		}
		switch s {
		case EnvAll:
			return nil
		case EnvDevelopment, EnvProduction:
			return Environment{s}
		}
		if s == "" {
			d.fail(key, "must not be empty; use %q, %q, %q or a list such as [\"staging\", \"production\"]", EnvAll, EnvDevelopment, EnvProduction)
		} else {
			d.fail(key, "%q is not %q, %q or %q; for other environments write a list: [%q]", s, EnvAll, EnvDevelopment, EnvProduction, s)
		}
		return nil
	case "array":
		items, _ := d.array(key, raw)
		if len(items) == 0 {
			d.fail(key, "must not be an empty list; write %q to load the plugin in every environment", EnvAll)
			return nil
		}
		env := make(Environment, len(items))
		for i, it := range items {
			env[i], _ = d.str(index(key, i), it)
		}
		return env
	default:
		d.fail(key, `must be "all", "development", "production" or a list of environment names, got %s`, jsonType(raw))
		return nil
	}
}

// decoder collects problems while decoding field by field.
type decoder struct {
	file     string
	problems []Problem
	failed   failedSet
}

// failedSet holds the paths of fields that could not be decoded; semantic
// checks on them would only repeat the type error.
type failedSet map[string]bool

// covers reports whether field is a failed path or lies under one.
func (f failedSet) covers(field string) bool {
	for p := range f {
		if field == p || strings.HasPrefix(field, p+".") || strings.HasPrefix(field, p+"[") {
			return true
		}
	}
	return false
}

func (d *decoder) add(field, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Field: clip(field), Message: fmt.Sprintf(format, args...)})
}

// fail records a problem and marks field as undecodable.
func (d *decoder) fail(field, format string, args ...any) {
	d.add(field, format, args...)
	d.failed[field] = true
}

func (d *decoder) typeError(field, want string, raw json.RawMessage) {
	d.fail(field, "must be %s, got %s", want, jsonType(raw))
}

func (d *decoder) unknown(parent, key string, known []string) {
	field := fieldPath("", key)
	if parent != key {
		field = fieldPath(parent, key)
	}
	if len(key) > MaxNameLength {
		d.add(field, "unknown field of %d bytes; the known fields are %s", len(key), strings.Join(known, ", "))
		return
	}
	if s := suggest(key, known); s != "" {
		d.add(field, "unknown field %q; did you mean %q?", key, s)
		return
	}
	d.add(field, "unknown field %q; the known fields are %s", key, strings.Join(known, ", "))
}

func (d *decoder) str(field string, raw json.RawMessage) (string, bool) {
	var s string
	if jsonType(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		d.typeError(field, "a string", raw)
		return "", false
	}
	if limit := maxLength(field); len(s) > limit {
		d.fail(field, "is %d bytes long; at most %d are allowed", len(s), limit)
		return "", false
	}
	return s, true
}

// maxLength is the longest string allowed at a field path.
func maxLength(field string) int {
	switch {
	case field == "name", field == "environment", strings.HasPrefix(field, "environment["):
		return MaxNameLength
	case strings.HasPrefix(field, "dependencies["):
		if !strings.HasSuffix(field, ".version") {
			return MaxNameLength
		}
	case field == "description":
		return MaxDescriptionLength
	}
	return MaxStringLength
}

// clip shortens a key or value a manifest got wrong for a message, so a
// huge one is not printed whole.
func clip(s string) string {
	if len(s) <= MaxNameLength {
		return s
	}
	cut := s[:MaxNameLength]
	for !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return fmt.Sprintf("%s... (%d bytes)", cut, len(s))
}

// required reads "required": true or false, or the environments in which
// the plugin is required ("production", or a list), elsewhere optional.
func (d *decoder) required(key string, raw json.RawMessage) (*bool, Environment) {
	switch jsonType(raw) {
	case "boolean":
		b, _ := d.boolean(key, raw)
		return &b, nil
	case "string", "array":
		var s string
		if json.Unmarshal(raw, &s) == nil {
			switch s {
			case EnvAll:
				return new(true), nil
			case EnvDevelopment, EnvProduction:
				return nil, Environment{s}
			}
			d.fail(key, `must be true, false, or the environments the plugin is required in ("production", or a list such as ["staging", "production"]); got %q`, s)
			return nil, nil
		}
		env := d.environment(key, raw)
		if len(env) == 0 {
			return nil, nil
		}
		return nil, env
	}
	d.typeError(key, `true, false, or the environments the plugin is required in ("production", or a list)`, raw)
	return nil, nil
}

func (d *decoder) boolean(field string, raw json.RawMessage) (bool, bool) {
	var b bool
	if jsonType(raw) != "boolean" || json.Unmarshal(raw, &b) != nil {
		d.typeError(field, "true or false", raw)
		return false, false
	}
	return b, true
}

func (d *decoder) integer(field string, raw json.RawMessage) (int, bool) {
	if jsonType(raw) != "number" {
		d.typeError(field, "a whole number", raw)
		return 0, false
	}
	text := string(bytes.TrimSpace(raw))
	n, err := strconv.Atoi(text)
	if err != nil {
		if _, ferr := strconv.ParseFloat(text, 64); ferr == nil && !strings.ContainsAny(text, ".eE") {
			d.fail(field, "%s is out of range", clip(text))
		} else {
			d.fail(field, "must be a whole number, got %s", clip(text))
		}
		return 0, false
	}
	return n, true
}

func (d *decoder) array(field string, raw json.RawMessage) ([]json.RawMessage, bool) {
	var items []json.RawMessage
	if jsonType(raw) != "array" || json.Unmarshal(raw, &items) != nil {
		d.typeError(field, "a list", raw)
		return nil, false
	}
	return items, true
}

func (d *decoder) object(field string, raw json.RawMessage) (map[string]json.RawMessage, []string, bool) {
	var obj map[string]json.RawMessage
	if jsonType(raw) != "object" || json.Unmarshal(raw, &obj) != nil {
		d.typeError(field, "an object", raw)
		return nil, nil, false
	}
	return obj, sortedKeys(obj), true
}

// duplicateKeys reports every object key that appears twice in data (which
// must be valid JSON): encoding/json silently keeps the last one.
func (d *decoder) duplicateKeys(data []byte) {
	_ = jsonkeys.Walk(data, func(path []jsonkeys.Step, key string, before []string) error {
		if slices.Contains(before, key) {
			p := ""
			for _, s := range path {
				switch s := s.(type) {
				case string:
					p = fieldPath(p, s)
				case int:
					p = index(p, s)
				}
			}
			d.add(fieldPath(p, key), "is set more than once; keep one (only the last would count)")
		}
		return nil
	}) // data is valid JSON: json.Unmarshal accepted it
}

// jsonType names the JSON type of raw as JSON Schema does.
func jsonType(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// rootField is the top-level field a field path starts with.
func rootField(field string) string {
	if i := strings.IndexAny(field, ".["); i >= 0 {
		return field[:i]
	}
	return field
}

func hasProblemOn(problems []Problem, roots ...string) bool {
	for _, p := range problems {
		if slices.Contains(roots, rootField(p.Field)) {
			return true
		}
	}
	return false
}

// sortProblems orders problems by top-level field as in fieldOrder (whole
// file and unknown fields first), then by list index, keeping the order in
// which they were found otherwise.
func sortProblems(problems []Problem) []Problem {
	type key struct{ rank, index int }
	keyOf := func(p Problem) key {
		k := key{rank: slices.Index(fieldOrder, rootField(p.Field)), index: -1} // rank -1: whole file or unknown
		if rest, ok := strings.CutPrefix(p.Field, rootField(p.Field)+"["); ok {
			if end := strings.IndexByte(rest, ']'); end > 0 {
				k.index, _ = strconv.Atoi(rest[:end])
			}
		}
		return k
	}
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := keyOf(problems[i]), keyOf(problems[j])
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.index < b.index
	})
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
