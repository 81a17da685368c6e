package web

// Plugin settings: what an operator saves for a plugin's Configure, secret
// fields encrypted at rest and never shown again. Saved settings apply over
// the configuration file's, field by field; a running plugin gets them at
// once (Configure), and refuses them before they are saved.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
)

// redactedValue stands for a secret value in plugin settings the API shows. Sent
// back in a PUT, it keeps the stored value.
const redactedValue = "<redacted>"

var settingsPluginRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// pluginSettingsJSON is a plugin's settings as the API shows them.
type pluginSettingsJSON struct {
	Plugin string `json:"plugin"`
	// Installed says whether the plugin is in the plugin directory (its
	// manifest then checks the settings and names the secret fields).
	Installed bool `json:"installed"`
	// Saved says whether settings are stored (false: nothing saved yet,
	// Settings is {}).
	Saved    bool            `json:"saved"`
	Settings json.RawMessage `json:"settings"`
	// SecretFields are shown as "<redacted>".
	SecretFields []string   `json:"secret_fields"`
	UpdatedBy    string     `json:"updated_by,omitempty"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
	// Warnings are the running plugin's, on accepting new settings.
	Warnings []string `json:"warnings,omitempty"`
}

// validatePluginSettings checks saved settings as the plugin will get them:
// merged over the configuration file's.
func (s *Server) validatePluginSettings(name string, m *manifest.Manifest, saved json.RawMessage) error {
	if s.deps.Plugins != nil {
		_, err := s.deps.Plugins.EffectiveSettings(name, saved)
		return err
	}
	return m.ValidateSettings(saved)
}

// installedManifest returns the installed plugin's manifest, or nil.
func (s *Server) installedManifest(name string) *manifest.Manifest {
	if s.deps.Plugins == nil {
		return nil
	}
	p, ok := s.deps.Plugins.Plugin(name)
	if !ok {
		return nil
	}
	return p.Manifest()
}

// settingsPluginVar reads and checks the {plugin} path variable.
func settingsPluginVar(r *http.Request) (string, error) {
	name := mux.Vars(r)["plugin"]
	if !settingsPluginRE.MatchString(name) {
		return "", &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("%q is not a plugin name", name), nil}
	}
	return name, nil
}

// settingsSecretFields are the fields to encrypt and redact: those of the
// one rule for plugin settings (manifest.SecretFieldsOf: the manifest's, or
// without one, as the plugin is not installed yet, those whose names look
// secret), and those stored encrypted before (a plugin may be absent or
// older now). A field guessed by its name is taken for a secret only when
// it holds text (a string, or a list or an object of strings): it is
// encrypted at rest, and a number named like a secret ("max_tokens") is
// none. Better encrypted for nothing than stored and shown in clear.
func settingsSecretFields(m *manifest.Manifest, stored *store.PluginSettings, settings map[string]any) []string {
	out := manifest.SecretFieldsOf(m, settings)
	if m == nil {
		out = slices.DeleteFunc(out, func(f string) bool { return !holdsTextAt(settings, f) })
	}
	if stored != nil {
		out = append(out, stored.Encrypted...)
	}
	// "webhook_secrets" covers the "webhook_secrets[]" stored encrypted.
	return store.OutermostSecretPaths(out)
}

// holdsTextAt reports whether there is a value at path in settings and
// every value there holds text.
func holdsTextAt(settings map[string]any, path string) bool {
	vals := valuesAt(settings, strings.Split(path, "."))
	for _, v := range vals {
		if !holdsText(v) {
			return false
		}
	}
	return len(vals) > 0
}

// valuesAt returns the values at a secret path ("a.b", "list[].c").
func valuesAt(v any, segs []string) []any {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	key, list := strings.CutSuffix(segs[0], "[]")
	child, ok := obj[key]
	if !ok {
		return nil
	}
	items := []any{child}
	if list {
		items, _ = child.([]any)
	}
	if len(segs) == 1 {
		return items
	}
	var out []any
	for _, item := range items {
		out = append(out, valuesAt(item, segs[1:])...)
	}
	return out
}

// holdsText reports whether a value is a string, or a non-empty list or
// object whose values all hold text.
func holdsText(v any) bool {
	switch t := v.(type) {
	case string:
		return true
	case []any:
		for _, x := range t {
			if !holdsText(x) {
				return false
			}
		}
		return len(t) > 0
	case map[string]any:
		for _, x := range t {
			if !holdsText(x) {
				return false
			}
		}
		return len(t) > 0
	}
	return false
}

// redactSettings replaces the non-empty string values at the secret paths
// with redactedValue. The result is written without HTML escapes, as
// writeJSON writes everything: "<redacted>", not "\u003credacted\u003e";
// numbers keep their exact digits.
func redactSettings(settings json.RawMessage, secrets []string) (json.RawMessage, error) {
	obj, err := store.DecodeSettings(settings)
	if err != nil {
		return nil, err
	}
	for _, f := range secrets {
		// A secret that is not a string is shown as it is: it was never
		// stored encrypted either (saving refuses it).
		_ = store.MapSecret(obj, f, func(string) (any, error) { return redactedValue, nil })
	}
	return store.EncodeSettings(obj)
}

// keepRedacted puts the stored value back wherever the client sent
// redactedValue at a secret path (in a list of objects, the stored item
// with the same "id", or else at the same position), and returns the paths
// where it was sent with no stored secret to keep. A secret that is a list
// or an object of strings is shown with each string redacted: a
// placeholder in it keeps the stored string at the same position (or
// under the same key), and the placeholder in place of the whole value
// keeps the whole stored value.
func keepRedacted(obj, stored map[string]any, secrets []string) []string {
	var missing []string
	for _, path := range secrets {
		restoreAt(obj, stored, strings.Split(path, "."), path, &missing)
	}
	return slices.Compact(missing)
}

func restoreAt(v, prev any, segs []string, path string, missing *[]string) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	old, _ := prev.(map[string]any)
	key, list := strings.CutSuffix(segs[0], "[]")
	child := obj[key]
	var oldChild any
	if old != nil {
		oldChild = old[key]
	}
	leaf := func(cur, was any, set func(any)) {
		if cur != nil {
			set(restoreSecret(cur, was, path, missing))
		}
	}
	if !list {
		if len(segs) == 1 {
			leaf(child, oldChild, func(x any) { obj[key] = x })
			return
		}
		restoreAt(child, oldChild, segs[1:], path, missing)
		return
	}
	items, _ := child.([]any)
	oldItems, _ := oldChild.([]any)
	for i, item := range items {
		var was any
		if id, ok := itemID(item); ok {
			for _, o := range oldItems {
				if oid, ok := itemID(o); ok && oid == id {
					was = o
					break
				}
			}
		} else if i < len(oldItems) {
			was = oldItems[i]
		}
		if len(segs) == 1 {
			leaf(item, was, func(x any) { items[i] = x })
			continue
		}
		restoreAt(item, was, segs[1:], path, missing)
	}
}

// restoreSecret returns a secret value as the client sent it, with the
// stored strings put back where it sent redactedValue.
func restoreSecret(cur, was any, path string, missing *[]string) any {
	switch t := cur.(type) {
	case string:
		if t != redactedValue {
			return t
		}
		switch w := was.(type) {
		case string:
			if w != "" {
				return w
			}
		case []any, map[string]any:
			return w // the whole list or object, as stored
		}
		*missing = append(*missing, path)
		return t
	case []any:
		old, _ := was.([]any)
		for i, item := range t {
			var w any
			if i < len(old) {
				w = old[i]
			}
			t[i] = restoreSecret(item, w, path, missing)
		}
		return t
	case map[string]any:
		old, _ := was.(map[string]any)
		for k, item := range t {
			t[k] = restoreSecret(item, old[k], path, missing)
		}
		return t
	}
	return cur
}

// itemID is a list item's "id", when it has one.
func itemID(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	id, ok := m["id"].(string)
	return id, ok && id != ""
}

// loadPluginSettings reads the stored settings (nil when none).
func (s *Server) loadPluginSettings(r *http.Request, name string) (*store.PluginSettings, error) {
	cip, err := s.catalogCipher()
	if err != nil {
		return nil, err
	}
	ps, err := s.catalogQ().GetPluginSettings(r.Context(), name, cip)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return ps, err
}

// writePluginSettings answers with the settings as GET shows them.
func writePluginSettings(w http.ResponseWriter, name string, m *manifest.Manifest, ps *store.PluginSettings, warnings ...string) error {
	out, err := pluginSettingsView(name, m, ps, warnings...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// pluginSettingsView is the settings as GET shows them: secret values
// redacted.
func pluginSettingsView(name string, m *manifest.Manifest, ps *store.PluginSettings, warnings ...string) (pluginSettingsJSON, error) {
	var saved map[string]any
	if ps != nil {
		var err error
		if saved, err = store.DecodeSettings(ps.Settings); err != nil {
			return pluginSettingsJSON{}, err
		}
	}
	out := pluginSettingsJSON{Plugin: name, Installed: m != nil, Saved: ps != nil, Settings: json.RawMessage("{}"), SecretFields: settingsSecretFields(m, ps, saved), Warnings: warnings}
	if out.SecretFields == nil {
		out.SecretFields = []string{}
	}
	if ps != nil {
		red, err := redactSettings(ps.Settings, out.SecretFields)
		if err != nil {
			return pluginSettingsJSON{}, err
		}
		out.Settings, out.UpdatedBy, out.UpdatedAt = red, ps.UpdatedBy, &ps.UpdatedAt
	}
	return out, nil
}

func (s *Server) getPluginSettings(w http.ResponseWriter, r *http.Request) error {
	name, err := settingsPluginVar(r)
	if err != nil {
		return err
	}
	ps, err := s.loadPluginSettings(r, name)
	if err != nil {
		return err
	}
	m := s.installedManifest(name)
	if ps == nil && m == nil {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no plugin %q is installed and no settings are saved for it", name), nil}
	}
	return writePluginSettings(w, name, m, ps)
}

// putPluginSettings replaces a plugin's settings with the body, a JSON
// object (savePluginSettings).
func (s *Server) putPluginSettings(w http.ResponseWriter, r *http.Request) error {
	name, err := settingsPluginVar(r)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := decodeJSON(r, &raw); err != nil {
		return err
	}
	m, ps, warnings, err := s.savePluginSettings(r, name, raw)
	if err != nil {
		return err
	}
	return writePluginSettings(w, name, m, ps, warnings...)
}

// savePluginSettings replaces a plugin's settings with raw, a JSON object,
// for PUT /api/v1/plugin-settings/{plugin} and the admin UI's settings
// form. Secret fields sent as "<redacted>" keep their stored values. When
// the plugin is installed, the settings must satisfy its manifest's
// config_schema (422 with a message per JSON pointer otherwise), and a
// running plugin must accept them (422 with its refusal per field). It
// returns the installed manifest (nil: none), the saved settings and the
// plugin's warnings.
func (s *Server) savePluginSettings(r *http.Request, name string, raw json.RawMessage) (*manifest.Manifest, *store.PluginSettings, []string, error) {
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &obj) != nil {
		return nil, nil, nil, &apiError{http.StatusUnprocessableEntity, "validation_failed", "send the settings as a JSON object", FieldErrors{"settings": "must be a JSON object"}}
	}
	stored, err := s.loadPluginSettings(r, name)
	if err != nil {
		return nil, nil, nil, err
	}
	m := s.installedManifest(name)
	tree, err := store.DecodeSettings(raw)
	if err != nil {
		return nil, nil, nil, err
	}
	secrets := settingsSecretFields(m, stored, tree)

	// Put the stored values back where the client sent the placeholder.
	var storedTree map[string]any
	if stored != nil {
		if storedTree, err = store.DecodeSettings(stored.Settings); err != nil {
			return nil, nil, nil, err
		}
	}
	var v validation
	for _, f := range keepRedacted(tree, storedTree, secrets) {
		v.check(false, f, "no stored secret to keep; send the value")
	}
	// A placeholder anywhere else is not a secret the host keeps.
	for f, val := range obj {
		var sv string
		if json.Unmarshal(val, &sv) == nil && sv == redactedValue && !slices.Contains(secrets, f) {
			v.check(false, f, "no stored secret to keep; send the value")
		}
	}
	if err := v.err(); err != nil {
		return nil, nil, nil, err
	}
	// Routers kept in the store (routers_settings.go) win over the
	// "locations" sent.
	routerWarning, err := s.keepStoredRouters(r.Context(), name, tree)
	if err != nil {
		return nil, nil, nil, err
	}
	merged, err := store.EncodeSettings(tree)
	if err != nil {
		return nil, nil, nil, err
	}

	if m != nil {
		// Checked as the plugin will get them: over the file's settings.
		if err := s.validatePluginSettings(name, m, merged); err != nil {
			var se *manifest.SettingsError
			if !errors.As(err, &se) {
				return nil, nil, nil, &apiError{http.StatusUnprocessableEntity, "plugin_schema_invalid", err.Error() + "; the plugin's author must fix its plugin.json", nil}
			}
			details := FieldErrors{}
			for _, viol := range se.Violations {
				field := strings.TrimPrefix(viol.Location, "/")
				if field == "" {
					field = "settings"
				}
				if prev, ok := details[field]; ok {
					details[field] = prev + "; " + viol.Message
				} else {
					details[field] = viol.Message
				}
			}
			return nil, nil, nil, &apiError{http.StatusUnprocessableEntity, "validation_failed", fmt.Sprintf("the settings do not match plugin %q's config_schema; see details", name), details}
		}
	}

	by := ""
	if p := PrincipalFrom(r.Context()); p != nil {
		by = p.Username
	}
	cip, err := s.catalogCipher()
	if err != nil {
		return nil, nil, nil, err
	}
	// A running plugin takes the settings first: what it refuses is not
	// saved.
	warnings := routerWarning
	if s.deps.Plugins != nil {
		var pw []string
		pw, err = s.deps.Plugins.Reconfigure(r.Context(), name, merged)
		warnings = append(warnings, pw...)
		if errors.Is(err, plugins.ErrSettingsRefused) {
			return nil, nil, nil, &apiError{http.StatusUnprocessableEntity, "settings_refused", err.Error() + "; nothing was saved and the plugin keeps its previous settings",
				refusalDetails(m, err)}
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.SavePluginSettings(r.Context(), name, merged, secrets, by, cip); err != nil {
			return nil, err
		}
		// The names of the fields, never their values.
		return &auditEvent{Action: "plugin_settings.saved", ResourceType: "plugin", ResourceID: name, Metadata: map[string]string{
			"fields": strings.Join(slices.Sorted(maps.Keys(obj)), ","), "secret_fields": strings.Join(secrets, ",")}}, nil
	})
	if err != nil {
		s.restorePluginSettings(name, stored)
		if errors.Is(err, store.ErrInvalid) {
			return nil, nil, nil, &apiError{http.StatusUnprocessableEntity, "validation_failed", err.Error(), nil}
		}
		return nil, nil, nil, err
	}
	s.log.Info("plugin settings saved", "plugin", name, "by", by) // never the values
	s.announce(r.Context(), hosts.KindSettings, name)
	// A plugin that could not start (most often: settings missing, as for a
	// gateway just installed) starts now with what was saved.
	if s.deps.Plugins != nil {
		if p, ok := s.deps.Plugins.Plugin(name); ok && (p.State() == plugins.StateFailed || p.NotConfigured()) {
			start := s.deps.Plugins.Restart
			if p.NotConfigured() {
				start = s.deps.Plugins.Enable
			}
			if err := start(name); err != nil {
				warnings = append(warnings, "the settings are saved, but the plugin still does not start: "+err.Error())
			} else {
				s.log.Info("plugin started with its new settings", "plugin", name)
			}
		}
	}
	ps, err := s.catalogQ().GetPluginSettings(r.Context(), name, cip)
	if err != nil {
		return nil, nil, nil, err
	}
	return m, ps, warnings, nil
}

// refusalDetails puts each problem of a plugin's refusal of its settings
// next to the field it names. Plugins word a refusal as problems joined by
// "; ", each starting with the field ("api_base_url must not have a path;
// webhook_secrets[1] is not ..."); a part that starts with no top-level
// setting of the manifest's config_schema goes on with the part before it,
// or under "settings" when it comes first.
func refusalDetails(m *manifest.Manifest, err error) FieldErrors {
	msg := strings.TrimPrefix(err.Error(), plugins.ErrSettingsRefused.Error()+": ")
	if i := strings.LastIndex(msg, sdk.ErrInvalidArgument.Error()+": "); i >= 0 {
		msg = msg[i+len(sdk.ErrInvalidArgument.Error()+": "):]
	}
	msg = strings.TrimPrefix(msg, "settings: ")
	var props []string
	if m != nil {
		var schema struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		_ = json.Unmarshal(m.ConfigSchema, &schema)
		props = slices.Collect(maps.Keys(schema.Properties))
	}
	details := FieldErrors{}
	last := "settings"
	for _, problem := range strings.Split(msg, "; ") {
		field := ""
		for _, p := range props {
			// The longest name that the problem starts with, as a word.
			rest, ok := strings.CutPrefix(problem, p)
			if ok && rest != "" && strings.ContainsRune(" [.:", rune(rest[0])) && len(p) > len(field) {
				field = p
			}
		}
		if field == "" {
			field = last
		}
		last = field
		if prev, ok := details[field]; ok {
			details[field] = prev + "; " + problem
		} else {
			details[field] = problem
		}
	}
	return details
}

// restorePluginSettings hands a running plugin its stored settings again
// after new ones it accepted could not be saved.
func (s *Server) restorePluginSettings(name string, stored *store.PluginSettings) {
	if s.deps.Plugins == nil {
		return
	}
	var prev json.RawMessage
	if stored != nil {
		prev = stored.Settings
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.deps.Plugins.Reconfigure(ctx, name, prev); err != nil {
		s.log.Error("plugin keeps settings that were not saved; restart it", "plugin", name, "error", err)
	}
}
