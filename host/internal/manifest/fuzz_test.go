package manifest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
)

// The fuzz targets here run their seeds (f.Add and testdata/fuzz/<target>)
// with every go test; `make fuzz` mutates them (docs/fuzzing.md).

// topLevelFields are the fields a problem may name the root of.
var topLevelFields = []string{
	"name", "version", "kind", "description", "executable", "executables",
	"protocol_versions", "min_host_version", "dependencies", "environment",
	"required", "priority", "singleton", "config_schema", "routes", "events",
}

// FuzzParse feeds plugin.json bytes to Parse. Whatever the bytes, Parse
// answers the same way twice, returns nil only with an error, and reports
// problems only as a *ValidationError of 1 to 50 problems that name this
// file and a real field; a manifest it accepts passes Validate and answers
// the host's questions without failing.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"name": "audit", "version": "1.0.0", "kind": "audit", "protocol_versions": [1]}`))
	f.Add([]byte(`{"name": "audit", "version": "1.0.0", "kind": "audit", "protocol_versions": [1], "required": "production"}`))
	f.Add([]byte(`{"name": "x", "name": "y"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	for _, file := range seedFiles(f, "testdata/parse/*.json", "../../../plugins/*/plugin.json") {
		f.Add(file)
	}
	const file = "plugins/fuzz/plugin.json"
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := manifest.Parse(file, data)
		m2, err2 := manifest.Parse(file, data)
		if diff := cmp.Diff(m, m2); diff != "" || errString(err) != errString(err2) {
			t.Fatalf("Parse is not deterministic (-first +second):\n%s\nerrors: %v / %v", diff, err, err2)
		}
		if err == nil {
			if m == nil {
				t.Fatal("Parse returned neither a manifest nor an error")
			}
			if verr := m.Validate(); verr != nil {
				t.Fatalf("Parse accepted a manifest that Validate refuses: %v", verr)
			}
			if m.Priority < 0 || m.Priority > 1000 || len(m.ProtocolVersions) == 0 || m.Name == "" {
				t.Fatalf("Parse accepted priority %d, protocol_versions %v, name %q", m.Priority, m.ProtocolVersions, m.Name)
			}
			for _, r := range m.Routes {
				if r.Auth == "" {
					t.Fatalf("route %s %s has no auth after Parse (the default is admin)", r.Method, r.Path)
				}
			}
			// The host's questions about an accepted manifest.
			_ = m.SecretFields()
			_ = m.RunsIn("production")
			_ = m.IsRequiredIn("development")
			_, _ = m.ExecutableFor("linux", "amd64")
			_ = m.ValidateSettings(json.RawMessage(`{}`))
			return
		}
		var verr *manifest.ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("error is %T, want *manifest.ValidationError: %v", err, err)
		}
		if verr.File != file || len(verr.Problems) == 0 || len(verr.Problems) > 50 {
			t.Fatalf("ValidationError for %q with %d problems: %v", verr.File, len(verr.Problems), err)
		}
		// Every problem is about a manifest field, or about a field the
		// manifest should not have (and is inside what it reports as
		// unknown), or, only when the file is not a JSON object at all,
		// the whole file: a path names one field (keys that are not plain
		// names are quoted), and "" is never a field.
		var unknown []string
		for _, p := range verr.Problems {
			if strings.HasPrefix(p.Message, "unknown field") {
				unknown = append(unknown, p.Field)
			}
		}
		for _, p := range verr.Problems {
			if p.File != file || p.Message == "" {
				t.Fatalf("problem %+v: want file %q and a message", p, file)
			}
			if p.Field == "" {
				if m != nil && !strings.Contains(p.Message, "more problems are not shown") {
					t.Fatalf("a problem about the whole file, yet the file is a JSON object: %v", err)
				}
				continue
			}
			if !slices.ContainsFunc(topLevelFields, func(root string) bool { return under(p.Field, root) }) &&
				!slices.ContainsFunc(unknown, func(root string) bool { return under(p.Field, root) }) && len(verr.Problems) < 50 {
				t.Fatalf("problem names field %q, neither a manifest field nor inside one reported unknown: %v", p.Field, err)
			}
		}
	})
}

// under reports whether field is root or a path inside it.
func under(field, root string) bool {
	rest, ok := strings.CutPrefix(field, root)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// seedFiles reads the files the patterns match; it fails when a pattern
// matches nothing, so a moved folder does not silently drop the seeds.
func seedFiles(f *testing.F, patterns ...string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, pattern := range patterns {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			f.Fatalf("seed files %s: none found (%v)", pattern, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, data)
		}
	}
	return out
}

// FuzzValidateSettings checks settings against a config_schema, both
// fuzzed. The validator never accepts what the schema's top-level keywords
// forbid (a second, plain reading of "type", "required",
// "additionalProperties": false, "properties" with "type", "enum",
// "minimum", "maximum", "minLength", "maxLength" and "pattern" is the
// oracle), and its messages never repeat a setting's value, which may be a
// secret.
func FuzzValidateSettings(f *testing.F) {
	schemas := seedFiles(f, "../../../plugins/*/plugin.json")
	settings := seedFiles(f, "testdata/settings/*.json")
	for _, pj := range schemas {
		var m struct {
			ConfigSchema json.RawMessage `json:"config_schema"`
		}
		if err := json.Unmarshal(pj, &m); err != nil {
			f.Fatal(err)
		}
		if len(m.ConfigSchema) == 0 {
			continue
		}
		for _, s := range settings {
			f.Add([]byte(m.ConfigSchema), s)
		}
		f.Add([]byte(m.ConfigSchema), []byte(`{}`))
	}
	f.Add([]byte(`{"type": "object", "properties": {"n": {"type": "integer", "minimum": 5}}, "additionalProperties": false}`), []byte(`{"n": 5.0}`))
	f.Add([]byte(`{"type": "object", "properties": {"key": {"type": "string", "minLength": 8, "format": "password"}}, "required": ["key"]}`), []byte(`{"key": "secretvalue-1"}`))
	f.Add([]byte(`{"$ref": "https://example.com/schema.json"}`), []byte(`{}`))
	f.Add([]byte(``), []byte(`{"a": 1}`))
	f.Fuzz(func(t *testing.T, schema, settings []byte) {
		m := &manifest.Manifest{Name: "fuzz", ConfigSchema: schema}
		err := m.ValidateSettings(settings)
		var serr *manifest.SettingsError
		if err != nil && errors.As(err, &serr) {
			if len(serr.Violations) == 0 || serr.Plugin != "fuzz" {
				t.Fatalf("SettingsError with no violations or the wrong plugin: %#v", serr)
			}
			for _, s := range secretsIn(settings, schema) {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the error repeats the setting value %q: %v", s, err)
				}
			}
		}
		if err != nil {
			return
		}
		if why := forbidden(schema, settings); why != "" {
			t.Fatalf("ValidateSettings accepted settings the schema forbids: %s\nschema: %s\nsettings: %s", why, schema, settings)
		}
	})
}

// secretsIn returns the string values in settings long enough to be told
// apart in a message, and that the schema (which messages may quote) and
// the library's generic wording do not contain.
func secretsIn(settings, schema []byte) []string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(settings))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if len(v) >= 8 && !bytes.Contains(schema, []byte(v)) && !strings.Contains(`plugin "fuzz" settings`, v) {
				out = append(out, v)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// forbidden is the oracle: why the schema's top level forbids the
// settings, or "" when it does not (or the oracle cannot tell).
func forbidden(schemaRaw, settingsRaw []byte) string {
	settingsRaw = bytes.TrimSpace(settingsRaw)
	if len(settingsRaw) == 0 {
		settingsRaw = []byte(`{}`)
	}
	var settings any
	if decodeNumbers(settingsRaw, &settings) != nil {
		return "the settings are not JSON"
	}
	if len(schemaRaw) == 0 {
		if obj, ok := settings.(map[string]any); !ok || len(obj) > 0 {
			return "no config_schema, yet settings are not {}"
		}
		return ""
	}
	var schema map[string]any
	if decodeNumbers(schemaRaw, &schema) != nil || schema == nil {
		return "" // not a schema object: ValidateSettings must have failed
	}
	if _, ok := schema["$schema"]; ok {
		return "" // another draft may read the keywords otherwise
	}
	return violates(schema, settings, "")
}

func decodeNumbers(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one value")
	}
	return nil
}

// violates checks the value against the schema's plain keywords and one
// level of "properties".
func violates(schema map[string]any, v any, at string) string {
	if t, ok := schema["type"].(string); ok && !hasType(v, t) {
		return at + ": not of type " + t
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return jsonEqual(e, v) }) {
		return at + ": not in enum"
	}
	if n, ok := v.(json.Number); ok {
		if min, ok := schema["minimum"].(json.Number); ok && compare(n, min) < 0 {
			return at + ": below minimum"
		}
		if max, ok := schema["maximum"].(json.Number); ok && compare(n, max) > 0 {
			return at + ": above maximum"
		}
	}
	if s, ok := v.(string); ok {
		runes := json.Number(itoa(utf8.RuneCountInString(s)))
		if min, ok := schema["minLength"].(json.Number); ok && compare(runes, min) < 0 {
			return at + ": shorter than minLength"
		}
		if max, ok := schema["maxLength"].(json.Number); ok && compare(runes, max) > 0 {
			return at + ": longer than maxLength"
		}
		if p, ok := schema["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err == nil && !re.MatchString(s) {
				return at + ": does not match pattern"
			}
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	props, _ := schema["properties"].(map[string]any)
	if req, ok := schema["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				if _, present := obj[name]; !present {
					return at + ": required " + name + " missing"
				}
			}
		}
	}
	_, patterned := schema["patternProperties"]
	if schema["additionalProperties"] == false && !patterned {
		for name := range obj {
			if _, declared := props[name]; !declared {
				return at + ": undeclared property " + name
			}
		}
	}
	if at != "" {
		return "" // one level of properties is enough for the oracle
	}
	for name, sub := range props {
		sub, ok := sub.(map[string]any)
		val, present := obj[name]
		if !ok || !present {
			continue
		}
		if why := violates(sub, val, "/"+name); why != "" {
			return why
		}
	}
	return ""
}

func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		r, ok := new(big.Rat).SetString(string(n))
		return ok && r.IsInt()
	}
	return true // an unknown type name: the schema does not compile
}

// compare compares two JSON numbers exactly.
func compare(a, b json.Number) int {
	x, ok1 := new(big.Rat).SetString(string(a))
	y, ok2 := new(big.Rat).SetString(string(b))
	if !ok1 || !ok2 {
		return 0
	}
	return x.Cmp(y)
}

// jsonEqual is JSON Schema's equality: numbers by value.
func jsonEqual(a, b any) bool {
	if x, ok := a.(json.Number); ok {
		y, ok := b.(json.Number)
		return ok && compare(x, y) == 0
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, jsonEqual)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return a == b
}

func itoa(n int) string {
	return new(big.Int).SetInt64(int64(n)).String()
}
