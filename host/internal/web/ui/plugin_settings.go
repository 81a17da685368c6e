package ui

// A plugin's settings form, generated from its manifest's config_schema:
// strings, integers, numbers and booleans, enums as selects, lists of
// values one per line, lists of objects as repeated fieldsets (added and
// removed with buttons that post the form back, no script needed), objects
// as fieldsets. Secret fields are write-only: the page says whether one is
// set, an empty input keeps it (the API's redacted value is sent) and a
// value replaces it. Saving goes through the API's own code
// (Deps.SavePluginSettings), whose refusals come back per field and are
// shown next to their fields.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// PluginSettings is a plugin's saved settings as the API shows them.
type PluginSettings struct {
	// Saved says whether settings are stored.
	Saved bool
	// Values are the saved settings, with each secret value replaced by
	// Deps.RedactedValue.
	Values map[string]any
	// SecretFields are the secret fields' paths ("a.b", "list[].c").
	SecretFields []string
	UpdatedBy    string
	UpdatedAt    *time.Time
	// Warnings are the running plugin's, on accepting new settings.
	Warnings []string
}

// Refusal is a save the host refused: the API's 422 message and its
// problems by field (JSON pointers without the leading "/", or a
// top-level setting's name; "settings" for the whole).
type Refusal struct {
	Message string
	Fields  map[string]string
}

func (e *Refusal) Error() string { return e.Message }

// maxItems bounds the items of a list the form posts back.
const maxItems = 200

// schema is the part of a JSON Schema the form understands.
type schema struct {
	Type        string
	Title       string
	Description string
	Format      string
	Enum        []any
	Default     any
	Minimum     *float64
	Maximum     *float64
	MinLength   *int
	MaxLength   *int
	WriteOnly   bool
	Required    []string
	Props       []property
	Items       *schema
}

// property is an object's property, in the schema's order.
type property struct {
	Name   string
	Schema *schema
}

func (s *schema) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type        json.RawMessage `json:"type"`
		Title       string          `json:"title"`
		Description string          `json:"description"`
		Format      string          `json:"format"`
		Enum        []any           `json:"enum"`
		Default     any             `json:"default"`
		Minimum     *float64        `json:"minimum"`
		Maximum     *float64        `json:"maximum"`
		MinLength   *int            `json:"minLength"`
		MaxLength   *int            `json:"maxLength"`
		WriteOnly   bool            `json:"writeOnly"`
		Required    []string        `json:"required"`
		Properties  json.RawMessage `json:"properties"`
		Items       *schema         `json:"items"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = schema{Title: raw.Title, Description: raw.Description, Format: raw.Format, Enum: raw.Enum, Default: raw.Default,
		Minimum: raw.Minimum, Maximum: raw.Maximum, MinLength: raw.MinLength, MaxLength: raw.MaxLength,
		WriteOnly: raw.WriteOnly, Required: raw.Required, Items: raw.Items}
	// "type" is a name or a list of names ("null" besides one).
	var types []string
	if json.Unmarshal(raw.Type, &s.Type) != nil && json.Unmarshal(raw.Type, &types) == nil {
		for _, t := range types {
			if t != "null" {
				s.Type = t
				break
			}
		}
	}
	if s.Type == "" && len(raw.Properties) > 0 {
		s.Type = "object"
	}
	if len(raw.Properties) == 0 {
		return nil
	}
	// The properties in the schema's order: the form follows the author's.
	dec := json.NewDecoder(bytes.NewReader(raw.Properties))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		p := property{Name: fmt.Sprint(tok), Schema: &schema{}}
		if err := dec.Decode(p.Schema); err != nil {
			return err
		}
		s.Props = append(s.Props, p)
	}
	return nil
}

func (s *schema) secret() bool { return s.WriteOnly || s.Format == "password" }

// field is one control (or fieldset) of the form.
type field struct {
	// Name is the control's name: the setting's path with dots
	// ("bank_accounts.0.bank"); ID the control's id.
	Name, ID string
	Label    string
	Help     string
	// Kind is "text", "password", "integer", "number", "boolean",
	// "select", "lines" (a list of values, one per line), "objects" (a
	// list of objects) or "object".
	Kind     string
	Value    string
	Options  []option
	Required bool
	Min, Max string
	// MinLength and MaxLength are the string's bounds (0: none).
	MinLength, MaxLength int
	Default              string
	// Set says whether a secret is stored.
	Set   bool
	Error string
	// Fields are an object's.
	Fields []*field
	// Items are a list of objects' items.
	Items []item
}

// item is one object of a list.
type item struct {
	Index  int
	Name   string // the list's name and the index: what remove removes
	Fields []*field
}

type option struct {
	Value    string
	Selected bool
}

// settingsData is the settings page's.
type settingsData struct {
	Plugin   string
	Fields   []*field
	Saved    PluginSettings
	CanSave  bool
	Refusal  *Refusal
	Problems []string // refusals no field shows
	Warnings []string
}

// PluginSettingsForm serves GET /plugin/{name}/settings.
func (u *UI) PluginSettingsForm(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["name"]
	root, ok := u.settingsSchema(name)
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	saved, err := u.deps.PluginSettings(r, name)
	if err != nil {
		return err
	}
	return u.settingsPage(w, r, http.StatusOK, name, root, saved, saved.Values, nil)
}

// SavePluginSettings serves POST /plugin/{name}/settings: it saves the
// form, or, when the form's add or remove button was pressed, shows it
// again with a list's item added or removed.
func (u *UI) SavePluginSettings(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["name"]
	root, ok := u.settingsSchema(name)
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	if err := r.ParseForm(); err != nil {
		u.Fail(w, r, http.StatusBadRequest, "")
		return nil
	}
	saved, err := u.deps.PluginSettings(r, name)
	if err != nil {
		return err
	}
	values, _ := u.formValue(root, "", r.PostForm, saved.Values, true).(map[string]any)
	if op := r.PostForm.Get("op"); op != "" {
		editList(values, op)
		return u.settingsPage(w, r, http.StatusOK, name, root, saved, values, nil)
	}
	raw, err := json.Marshal(values)
	if err != nil {
		return err
	}
	res, err := u.deps.SavePluginSettings(r, name, raw)
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return u.settingsPage(w, r, http.StatusUnprocessableEntity, name, root, saved, values, refusal)
	}
	if err != nil {
		return err
	}
	u.log.Info("plugin settings saved", "plugin", name, "user", userFrom(r).Username)
	if len(res.Warnings) == 0 {
		redirect(w, r, "/plugin/"+url.PathEscape(name)+"?done=settings")
		return nil
	}
	// The plugin's warnings are worth reading before going on.
	d, _ := u.pluginData(name)
	d.Warnings = res.Warnings
	return u.render(w, r, http.StatusOK, "plugin.html", view{Title: "plugins.page_title", Notice: "plugins.settings_saved", NoticeArg: name, Data: d})
}

// settingsSchema is the installed plugin's config_schema, when it has a
// settings form.
func (u *UI) settingsSchema(name string) (*schema, bool) {
	d, ok := u.pluginData(name)
	if !ok || !d.Settings {
		return nil, false
	}
	var s schema
	if err := json.Unmarshal(d.Manifest.ConfigSchema, &s); err != nil || s.Type != "object" {
		return nil, false
	}
	return &s, true
}

func (u *UI) settingsPage(w http.ResponseWriter, r *http.Request, status int, name string, root *schema, saved PluginSettings, values map[string]any, refusal *Refusal) error {
	d := settingsData{Plugin: name, Saved: saved, CanSave: userFrom(r).Can("admin"), Refusal: refusal}
	errs := map[string]string{}
	if refusal != nil {
		for k, msg := range refusal.Fields {
			errs[strings.ReplaceAll(k, "/", ".")] = msg
		}
	}
	b := formBuilder{saved: saved.Values, redacted: u.deps.RedactedValue, errs: errs}
	d.Fields = b.fields(root, "", values)
	// What no field shows goes above the form.
	for _, k := range slices.Sorted(maps.Keys(b.errs)) {
		d.Problems = append(d.Problems, b.errs[k])
	}
	v := view{Title: "plugins.settings_title", Data: d}
	if refusal != nil {
		v.Problem = "plugins.settings_refused"
	}
	return u.render(w, r, status, "plugin_settings.html", v)
}

// formBuilder builds the fields from the schema and the values to show.
type formBuilder struct {
	saved    map[string]any
	redacted string
	// errs are the problems by field name, each taken by the field that
	// shows it (the nearest one up the path).
	errs map[string]string
}

// fields are an object's fields, named under prefix.
func (b *formBuilder) fields(s *schema, prefix string, values map[string]any) []*field {
	var out []*field
	for _, p := range s.Props {
		name := p.Name
		if prefix != "" {
			name = prefix + "." + p.Name
		}
		out = append(out, b.field(p.Schema, name, p.Name, slices.Contains(s.Required, p.Name), values[p.Name]))
	}
	return out
}

func (b *formBuilder) field(s *schema, name, key string, required bool, value any) *field {
	f := &field{Name: name, ID: "f-" + strings.ReplaceAll(name, ".", "-"), Label: s.Title, Help: s.Description, Required: required}
	if f.Label == "" {
		f.Label = key
	}
	if s.Default != nil && !s.secret() {
		f.Default = display(s.Default)
		if list, ok := s.Default.([]any); ok {
			parts := make([]string, len(list))
			for i, v := range list {
				parts[i] = display(v)
			}
			f.Default = strings.Join(parts, ", ")
		}
	}
	if s.Minimum != nil {
		f.Min = strconv.FormatFloat(*s.Minimum, 'f', -1, 64)
	}
	if s.Maximum != nil {
		f.Max = strconv.FormatFloat(*s.Maximum, 'f', -1, 64)
	}
	if s.MinLength != nil {
		f.MinLength = *s.MinLength
	}
	if s.MaxLength != nil {
		f.MaxLength = *s.MaxLength
	}
	switch {
	case s.Type == "object":
		f.Kind = "object"
		obj, _ := value.(map[string]any)
		f.Fields = b.fields(s, name, obj)
	case s.Type == "array" && s.Items != nil && s.Items.Type == "object":
		f.Kind = "objects"
		list, _ := value.([]any)
		for i, v := range list {
			obj, _ := v.(map[string]any)
			in := name + "." + strconv.Itoa(i)
			f.Items = append(f.Items, item{Index: i + 1, Name: in, Fields: b.fields(s.Items, in, obj)})
		}
	case s.Type == "array":
		f.Kind = "lines"
		if s.secret() || (s.Items != nil && s.Items.secret()) {
			f.Kind, f.Set = "secret-lines", b.isSet(name)
			break
		}
		list, _ := value.([]any)
		lines := make([]string, len(list))
		for i, v := range list {
			lines[i] = display(v)
		}
		f.Value = strings.Join(lines, "\n")
	case s.secret():
		f.Kind, f.Set = "password", b.isSet(name)
	case len(s.Enum) > 0:
		f.Kind = "select"
		cur := ""
		if value != nil {
			cur = display(value)
		}
		for _, e := range s.Enum {
			f.Options = append(f.Options, option{Value: display(e), Selected: display(e) == cur})
		}
	case s.Type == "boolean":
		f.Kind = "boolean"
		if value != nil {
			f.Value = display(value)
		}
	case s.Type == "integer" || s.Type == "number":
		f.Kind = s.Type
		if value != nil {
			f.Value = display(value)
		}
	default:
		f.Kind = "text"
		if value != nil {
			f.Value = display(value)
		}
	}
	f.Error = b.take(name)
	return f
}

// take returns and removes the problems of name and of the paths under it
// that no field of their own shows (the fields below take theirs first).
func (b *formBuilder) take(name string) string {
	var msgs []string
	for _, k := range slices.Sorted(maps.Keys(b.errs)) {
		if k == name || strings.HasPrefix(k, name+".") {
			msgs = append(msgs, b.errs[k])
			delete(b.errs, k)
		}
	}
	return strings.Join(msgs, "; ")
}

// isSet reports whether the saved settings hold a secret at the field's
// path (a list item's secret: at the same position).
func (b *formBuilder) isSet(name string) bool {
	var cur any = b.saved
	for _, seg := range strings.Split(name, ".") {
		switch t := cur.(type) {
		case map[string]any:
			cur = t[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return false
			}
			cur = t[i]
		default:
			return false
		}
	}
	switch t := cur.(type) {
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	}
	return false
}

// display writes a JSON value as the form shows it.
func display(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// formValue reads the value of the field name (of schema s) from the
// posted form: nil when it is left empty, so the plugin's default (or the
// configuration file's value) applies. An empty secret input keeps a
// stored secret. A value that is not a number where one is wanted is
// sent as it is, for the host to explain.
func (u *UI) formValue(s *schema, name string, form url.Values, saved map[string]any, root bool) any {
	switch {
	case s.Type == "object":
		obj := map[string]any{}
		for _, p := range s.Props {
			n := p.Name
			if name != "" {
				n = name + "." + p.Name
			}
			if v := u.formValue(p.Schema, n, form, saved, false); v != nil {
				obj[p.Name] = v
			}
		}
		if len(obj) == 0 && !root {
			return nil
		}
		return obj
	case s.Type == "array" && s.Items != nil && s.Items.Type == "object":
		n, _ := strconv.Atoi(form.Get(name + ".n"))
		n = min(max(n, 0), maxItems)
		list := []any{}
		for i := range n {
			v := u.formValue(s.Items, name+"."+strconv.Itoa(i), form, saved, true)
			list = append(list, v)
		}
		if len(list) == 0 {
			return nil
		}
		return list
	case s.Type == "array":
		if s.secret() || (s.Items != nil && s.Items.secret()) {
			return u.secretValue(name, form, saved)
		}
		var list []any
		for _, line := range strings.Split(form.Get(name), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				list = append(list, scalar(s.Items, line))
			}
		}
		if len(list) == 0 {
			return nil
		}
		return list
	case s.secret():
		return u.secretValue(name, form, saved)
	}
	v := form.Get(name)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	return scalar(s, v)
}

// secretValue is a secret's new value, or the redacted value that keeps
// the stored one, or nil when there is none.
func (u *UI) secretValue(name string, form url.Values, saved map[string]any) any {
	v := form.Get(name)
	b := formBuilder{saved: saved}
	if strings.TrimSpace(v) != "" {
		if strings.Contains(v, "\n") {
			var list []any
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					list = append(list, line)
				}
			}
			return list
		}
		return v
	}
	if b.isSet(name) {
		return u.deps.RedactedValue
	}
	return nil
}

// scalar is a value typed as s wants: a number or a boolean when it reads
// as one, else the text as it is.
func scalar(s *schema, v string) any {
	if s == nil {
		return v
	}
	switch s.Type {
	case "integer":
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n
		}
	case "number":
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return n
		}
	case "boolean":
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return v
}

// editList adds an empty item to a list ("add:bank_accounts") or removes
// one ("remove:bank_accounts.1") in the posted values.
func editList(values map[string]any, op string) {
	verb, path, _ := strings.Cut(op, ":")
	segs := strings.Split(path, ".")
	if verb == "remove" {
		if len(segs) < 2 {
			return
		}
		i, err := strconv.Atoi(segs[len(segs)-1])
		segs = segs[:len(segs)-1]
		if err != nil {
			return
		}
		setAt(values, segs, func(list []any) []any {
			if i < 0 || i >= len(list) {
				return list
			}
			return slices.Delete(list, i, i+1)
		})
		return
	}
	if verb == "add" {
		setAt(values, segs, func(list []any) []any {
			if len(list) >= maxItems {
				return list
			}
			return append(list, map[string]any{})
		})
	}
}

// setAt replaces the list at path with edit's result.
func setAt(v any, segs []string, edit func([]any) []any) {
	switch t := v.(type) {
	case map[string]any:
		if len(segs) == 1 {
			list, _ := t[segs[0]].([]any)
			t[segs[0]] = edit(list)
			return
		}
		next, ok := t[segs[0]]
		if !ok {
			next = map[string]any{}
			t[segs[0]] = next
		}
		setAt(next, segs[1:], edit)
	case []any:
		i, err := strconv.Atoi(segs[0])
		if err != nil || i < 0 || i >= len(t) || len(segs) == 1 {
			return
		}
		setAt(t[i], segs[1:], edit)
	}
}
