package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/mikrobill/mikrobill/host/internal/redact"
)

// schemaURL is the made-up address config_schema compiles under. Nothing is
// ever fetched: a config_schema must be self-contained.
const schemaURL = "mem:///config_schema.json"

// Violation is one way settings break a plugin's config_schema.
type Violation struct {
	// Location is the JSON pointer of the offending value in the settings,
	// such as "/server_key"; empty for the settings object itself (for
	// example a missing required property).
	Location string
	// Message says what is wrong. It never repeats the value, which may be
	// a secret.
	Message string
}

// SettingsError is every violation found in one plugin's settings.
// [Manifest.ValidateSettings] returns it.
type SettingsError struct {
	// Plugin is the plugin's name.
	Plugin string
	// Violations are sorted by location; never empty.
	Violations []Violation
}

// Error prints one line per violation, such as
// `plugin "payment-midtrans" settings at /expiry_minutes: minimum: got 1, want 5`.
func (e *SettingsError) Error() string {
	lines := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		where := ""
		if v.Location != "" {
			where = " at " + v.Location
		}
		lines[i] = fmt.Sprintf("plugin %q settings%s: %s", e.Plugin, where, v.Message)
	}
	return strings.Join(lines, "\n")
}

// ValidateSettings checks an operator's settings (a JSON object) against the
// manifest's config_schema, the way the host does before calling the
// plugin's Configure. It returns nil or a [*SettingsError] listing every
// violation with its JSON pointer. Empty settings count as {}. A plugin
// without config_schema takes no settings: only {} (or nothing) passes.
//
// Messages never include the values themselves (settings hold secrets), so
// the error is safe to log and to show.
func (m *Manifest) ValidateSettings(settings json.RawMessage) error {
	settings = bytes.TrimSpace(settings)
	if len(settings) == 0 {
		settings = []byte("{}")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(settings))
	if err != nil {
		return m.settingsError(Violation{Message: "invalid JSON: " + err.Error()})
	}
	if len(m.ConfigSchema) == 0 {
		if obj, ok := doc.(map[string]any); ok && len(obj) == 0 {
			return nil
		}
		return m.settingsError(Violation{Message: "the plugin takes no settings (its plugin.json has no config_schema); remove them"})
	}
	schema, msgs := compileSchema(m.ConfigSchema)
	if len(msgs) > 0 {
		return fmt.Errorf("plugin %q: its config_schema is invalid, so no settings can be checked: %s", m.Name, strings.Join(msgs, "; "))
	}
	err = schema.Validate(doc)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("validate plugin %q settings: %w", m.Name, err)
	}
	return m.settingsError(violations(verr)...)
}

func (m *Manifest) settingsError(vs ...Violation) error {
	return &SettingsError{Plugin: m.Name, Violations: vs}
}

// SecretFields returns the sorted paths of config_schema's secret
// settings: the properties with "format": "password" or "writeOnly": true,
// at the top level ("api_key"), in objects ("tls.key") and in the items of
// lists ("locations[].password"). The host encrypts them at rest and
// redacts them in answers.
func (m *Manifest) SecretFields() []string {
	if len(m.ConfigSchema) == 0 {
		return nil
	}
	var secrets []string
	collectSecrets(m.ConfigSchema, "", &secrets, 0)
	sort.Strings(secrets)
	return secrets
}

// schemaNode is the part of a JSON Schema that says where secrets are.
type schemaNode struct {
	Format     any                        `json:"format"`
	WriteOnly  any                        `json:"writeOnly"`
	Properties map[string]json.RawMessage `json:"properties"`
	Items      json.RawMessage            `json:"items"`
}

func collectSecrets(raw json.RawMessage, path string, out *[]string, depth int) {
	var n schemaNode
	if depth > 8 || json.Unmarshal(raw, &n) != nil {
		return
	}
	if path != "" && (n.Format == "password" || n.WriteOnly == true) {
		*out = append(*out, path)
		return
	}
	for name, prop := range n.Properties {
		p := name
		if path != "" {
			p = path + "." + name
		}
		collectSecrets(prop, p, out, depth+1)
	}
	if len(n.Items) > 0 && path != "" {
		collectSecrets(n.Items, path+"[]", out, depth+1)
	}
}

// compiled keeps each config_schema compiled once, keyed by its text: the
// host checks a plugin's settings at every launch and every save, and the
// check of its plugin.json compiles the same schema (a compile costs about
// 0.5 ms of CPU and 60 KB; a validation a few microseconds). A compiled
// schema is not changed by validating with it, so one serves every
// goroutine. At most maxCompiled are kept (a schema beyond them is
// compiled each time); a schema that does not compile is not kept.
var compiled = struct {
	sync.Mutex
	m map[string]*jsonschema.Schema
}{m: map[string]*jsonschema.Schema{}}

const maxCompiled = 256

// compileSchema compiles a config_schema, or returns it compiled before. It
// returns the schema, or messages for each problem (each fit to follow
// "config_schema: ").
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, []string) {
	key := string(raw)
	compiled.Lock()
	schema, ok := compiled.m[key]
	compiled.Unlock()
	if ok {
		return schema, nil
	}
	schema, msgs := compileSchemaNow(raw)
	if schema != nil {
		compiled.Lock()
		if len(compiled.m) < maxCompiled {
			compiled.m[key] = schema
		}
		compiled.Unlock()
	}
	return schema, msgs
}

func compileSchemaNow(raw json.RawMessage) (*jsonschema.Schema, []string) {
	if t := jsonType(raw); t != "object" {
		return nil, []string{fmt.Sprintf(`must be a JSON Schema object such as {"type": "object", "properties": {...}}, got %s`, t)}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, []string{"is not valid JSON: " + err.Error()}
	}
	if t, ok := doc.(map[string]any)["type"]; ok && t != "object" && !(isList(t) && slices.Contains(t.([]any), any("object"))) {
		return nil, []string{fmt.Sprintf(`settings are a JSON object, so the top-level "type" must be "object", got %s`, display(t))}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, []string{"cannot be used: " + err.Error()}
	}
	schema, err := c.Compile(schemaURL)
	if err == nil {
		return schema, nil
	}
	var serr *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	var lerr *jsonschema.LoadURLError
	switch {
	case errors.As(err, &serr) && errors.As(serr.Err, &verr):
		var msgs []string
		for _, v := range violations(verr) {
			msgs = append(msgs, fmt.Sprintf("is not a valid JSON Schema: at %s: %s", orRoot(v.Location), v.Message))
		}
		return nil, msgs
	case errors.As(err, &lerr):
		return nil, []string{fmt.Sprintf("refers to %s; a config_schema must be self-contained (put shared parts under \"$defs\" and refer to them as \"#/$defs/name\")",
			strings.TrimPrefix(lerr.URL, "mem:///"))}
	default:
		return nil, []string{"is not a valid JSON Schema: " + strings.ReplaceAll(err.Error(), schemaURL, "config_schema")}
	}
}

// noLoader refuses to fetch anything, so a schema can reach neither the
// network nor the host's files.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("a config_schema may not load %s", url)
}

// violations flattens a validation error tree into its leaves, sorted and
// without repeats. The inner nodes ("allOf failed", "validation failed")
// only group their causes. For anyOf and oneOf, alternatives that failed
// only because the value has another type are dropped when some
// alternative got the type right (its complaint is the useful one); when
// all failed on type, they merge into "got boolean, want integer or string".
func violations(root *jsonschema.ValidationError) []Violation {
	var out []Violation
	seen := map[Violation]bool{}
	emit := func(v Violation) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			emit(Violation{Location: jsonPointer(e.InstanceLocation), Message: leafMessage(e)})
			return
		}
		switch e.ErrorKind.(type) {
		case *kind.AnyOf, *kind.OneOf:
			var typeOnly []*kind.Type
			var rest []*jsonschema.ValidationError
			for _, c := range e.Causes {
				if t := typeMismatch(c, e.InstanceLocation); t != nil {
					typeOnly = append(typeOnly, t)
				} else {
					rest = append(rest, c)
				}
			}
			if len(rest) == 0 {
				var want []string
				for _, t := range typeOnly {
					want = append(want, t.Want...)
				}
				sort.Strings(want)
				want = slices.Compact(want)
				emit(Violation{Location: jsonPointer(e.InstanceLocation),
					Message: fmt.Sprintf("got %s, want %s", typeOnly[0].Got, strings.Join(want, " or "))})
				return
			}
			for _, c := range rest {
				walk(c)
			}
		default:
			for _, c := range e.Causes {
				walk(c)
			}
		}
	}
	walk(root)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Location != out[j].Location {
			return out[i].Location < out[j].Location
		}
		return out[i].Message < out[j].Message
	})
	return out
}

// typeMismatch returns the type error when e failed only because the value
// at loc has another type, or nil.
func typeMismatch(e *jsonschema.ValidationError, loc []string) *kind.Type {
	for len(e.Causes) == 1 { // unwrap "validation failed" and $ref groups
		e = e.Causes[0]
	}
	t, ok := e.ErrorKind.(*kind.Type)
	if !ok || len(e.Causes) > 0 || !slices.Equal(e.InstanceLocation, loc) {
		return nil
	}
	return t
}

// leafMessage describes one failed keyword without echoing the value.
func leafMessage(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Pattern:
		return fmt.Sprintf("does not match the pattern %q", k.Want)
	case *kind.Format:
		return fmt.Sprintf("is not a valid %s", k.Want)
	case *kind.ContentEncoding:
		return fmt.Sprintf("is not %s encoded", k.Want)
	case *kind.ContentMediaType:
		return fmt.Sprintf("is not of media type %s", k.Want)
	}
	// Let the library word it, through a childless copy of the error.
	leaf := &jsonschema.ValidationError{ErrorKind: e.ErrorKind}
	if out := leaf.BasicOutput(); out.Error != nil {
		return out.Error.String()
	}
	return "is invalid"
}

// jsonPointer encodes tokens as a JSON pointer (RFC 6901).
func jsonPointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

func orRoot(ptr string) string {
	if ptr == "" {
		return "the top level"
	}
	return ptr
}

func isList(v any) bool { _, ok := v.([]any); return ok }

// display formats a decoded JSON value for a message.
func display(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// SecretFieldsOf is the one rule for which fields of a plugin's settings
// are secret, wherever they are stored or shown: the manifest's
// SecretFields when the plugin is installed (m is not nil), and otherwise,
// with no config_schema to ask, the fields whose names look secret
// (redact.GuessSecretFields).
func SecretFieldsOf(m *Manifest, settings map[string]any) []string {
	if m != nil {
		return m.SecretFields()
	}
	return redact.GuessSecretFields(settings)
}

// DeclaresSetting reports whether config_schema declares the top-level
// setting name (among its "properties"). The host hands a plugin its
// defaults (config.Config.PluginDefaults) only for declared settings.
func (m *Manifest) DeclaresSetting(name string) bool {
	var n schemaNode
	if len(m.ConfigSchema) == 0 || json.Unmarshal(m.ConfigSchema, &n) != nil {
		return false
	}
	_, ok := n.Properties[name]
	return ok
}
