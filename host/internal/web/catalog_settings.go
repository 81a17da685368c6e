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
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
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

// secretWords mark a setting as secret by its name when no manifest says
// which settings are. They are the words `mikrobill config show` redacts
// plugin settings by (secretWords in host/internal/cli/config.go): keep the
// two lists alike.
var secretWords = []string{"pass", "secret", "token", "key", "credential", "private"}

// secretLooking reports whether a setting's name contains one of
// secretWords, ignoring case ("api_key", "Password", "webhook_token").
func secretLooking(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// settingsSecretFields are the fields to encrypt and redact: the manifest's,
// and those stored encrypted before (a plugin may be absent or older now).
// Without a manifest (the plugin is not installed yet), the top-level
// string fields of settings whose names look secret (secretLooking) are
// secret too: better encrypted for nothing than stored and shown in clear.
func settingsSecretFields(m *manifest.Manifest, stored *store.PluginSettings, settings map[string]json.RawMessage) []string {
	var out []string
	if m != nil {
		out = append(out, m.SecretFields()...)
	} else {
		for f, raw := range settings {
			var v string
			if secretLooking(f) && json.Unmarshal(raw, &v) == nil {
				out = append(out, f)
			}
		}
	}
	if stored != nil {
		out = append(out, stored.Encrypted...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// redactSettings replaces the non-empty string values of secrets with
// redactedValue. The result is written without HTML escapes, as writeJSON
// writes everything: "<redacted>", not "\u003credacted\u003e" (the stored
// JSON has them, from json.Marshal); numbers keep their exact digits.
func redactSettings(settings json.RawMessage, secrets []string) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(settings))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		obj = map[string]any{}
	}
	for _, f := range secrets {
		if v, ok := obj[f].(string); ok && v != "" {
			obj[f] = redactedValue
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
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
	var saved map[string]json.RawMessage
	if ps != nil {
		if err := json.Unmarshal(ps.Settings, &saved); err != nil {
			return err
		}
	}
	out := pluginSettingsJSON{Plugin: name, Installed: m != nil, Saved: ps != nil, Settings: json.RawMessage("{}"), SecretFields: settingsSecretFields(m, ps, saved), Warnings: warnings}
	if out.SecretFields == nil {
		out.SecretFields = []string{}
	}
	if ps != nil {
		red, err := redactSettings(ps.Settings, out.SecretFields)
		if err != nil {
			return err
		}
		out.Settings, out.UpdatedBy, out.UpdatedAt = red, ps.UpdatedBy, &ps.UpdatedAt
	}
	writeJSON(w, http.StatusOK, out)
	return nil
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
// object. Secret fields sent as "<redacted>" keep their stored values.
// When the plugin is installed, the settings must satisfy its manifest's
// config_schema (422 with a message per JSON pointer otherwise).
func (s *Server) putPluginSettings(w http.ResponseWriter, r *http.Request) error {
	name, err := settingsPluginVar(r)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := decodeJSON(r, &raw); err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &obj) != nil {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "send the settings as a JSON object", FieldErrors{"settings": "must be a JSON object"}}
	}
	stored, err := s.loadPluginSettings(r, name)
	if err != nil {
		return err
	}
	m := s.installedManifest(name)
	secrets := settingsSecretFields(m, stored, obj)

	// Put the stored values back where the client sent the placeholder.
	var storedObj map[string]json.RawMessage
	if stored != nil {
		if err := json.Unmarshal(stored.Settings, &storedObj); err != nil {
			return err
		}
	}
	var v validation
	for f, val := range obj {
		var sv string
		if json.Unmarshal(val, &sv) != nil || sv != redactedValue {
			continue
		}
		prev, ok := storedObj[f]
		v.check(ok && slices.Contains(secrets, f), f, "no stored secret to keep; send the value")
		obj[f] = prev
	}
	if err := v.err(); err != nil {
		return err
	}
	merged, err := json.Marshal(obj)
	if err != nil {
		return err
	}

	if m != nil {
		// Checked as the plugin will get them: over the file's settings.
		if err := s.validatePluginSettings(name, m, merged); err != nil {
			var se *manifest.SettingsError
			if !errors.As(err, &se) {
				return &apiError{http.StatusUnprocessableEntity, "plugin_schema_invalid", err.Error() + "; the plugin's author must fix its plugin.json", nil}
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
			return &apiError{http.StatusUnprocessableEntity, "validation_failed", fmt.Sprintf("the settings do not match plugin %q's config_schema; see details", name), details}
		}
	}

	by := ""
	if p := PrincipalFrom(r.Context()); p != nil {
		by = p.Username
	}
	cip, err := s.catalogCipher()
	if err != nil {
		return err
	}
	// A running plugin takes the settings first: what it refuses is not
	// saved.
	var warnings []string
	if s.deps.Plugins != nil {
		warnings, err = s.deps.Plugins.Reconfigure(r.Context(), name, merged)
		if errors.Is(err, plugins.ErrSettingsRefused) {
			return &apiError{http.StatusUnprocessableEntity, "settings_refused", err.Error() + "; nothing was saved and the plugin keeps its previous settings", nil}
		}
		if err != nil {
			return err
		}
	}
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.SavePluginSettings(r.Context(), name, merged, secrets, by, cip); err != nil {
			return nil, err
		}
		// The names of the fields, never their values.
		return &auditEvent{Action: "plugin_settings.saved", ResourceType: "plugin", ResourceID: name, Meta: map[string]string{
			"fields": strings.Join(slices.Sorted(maps.Keys(obj)), ","), "secret_fields": strings.Join(secrets, ",")}}, nil
	})
	if err != nil {
		s.restorePluginSettings(name, stored)
		if errors.Is(err, store.ErrInvalid) {
			return &apiError{http.StatusUnprocessableEntity, "validation_failed", err.Error(), nil}
		}
		return err
	}
	s.log.Info("plugin settings saved", "plugin", name, "by", by) // never the values
	// A plugin that could not start (most often: settings missing, as for a
	// gateway just installed) starts now with what was saved.
	if s.deps.Plugins != nil {
		if p, ok := s.deps.Plugins.Plugin(name); ok && p.State() == plugins.StateFailed {
			if err := s.deps.Plugins.Restart(name); err != nil {
				warnings = append(warnings, "the settings are saved, but the plugin still does not start: "+err.Error())
			} else {
				s.log.Info("plugin started with its new settings", "plugin", name)
			}
		}
	}
	ps, err := s.catalogQ().GetPluginSettings(r.Context(), name, cip)
	if err != nil {
		return err
	}
	return writePluginSettings(w, name, m, ps, warnings...)
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
