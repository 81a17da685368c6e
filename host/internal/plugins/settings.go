package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/sdk"
)

// MergeSettings is a plugin's effective settings: the configuration file's
// (plugin "<name>" { config = {...} }) with each top-level field saved
// through the admin API replacing the file's field of the same name.
// Either may be empty.
func MergeSettings(file, saved json.RawMessage) (json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for _, src := range []struct {
		what string
		raw  json.RawMessage
	}{{"the configuration file's", file}, {"the saved", saved}} {
		if len(src.raw) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(src.raw, &obj); err != nil {
			return nil, fmt.Errorf("%s settings are not a JSON object: %v", src.what, err)
		}
		for k, v := range obj {
			out[k] = v
		}
	}
	return json.Marshal(out)
}

// settings returns a plugin's effective settings for Configure: the file's
// merged with the saved ones (Deps.SavedSettings), with the host's defaults
// (withDefaultLocation, withHostDefaults).
func (m *Manager) settings(ctx context.Context, man *manifest.Manifest) (json.RawMessage, error) {
	if saved, ok := m.settingsAhead(man.Name); ok {
		return m.effective(man.Name, man, saved)
	}
	var saved json.RawMessage
	if m.deps.SavedSettings != nil {
		var err error
		if saved, err = m.deps.SavedSettings(ctx, man.Name); err != nil {
			return nil, fmt.Errorf("read its saved settings: %w", err)
		}
	}
	return m.effective(man.Name, man, saved)
}

// readSettingsAhead reads the saved settings of the plugins of a level, one
// after another, before their launches start at once. Launches that each
// read their own at the same moment made the embedded database's pool open
// a connection for each (about 2 ms of CPU apiece, the schema read again),
// a start's largest cost per plugin in the host (docs/BENCHMARKS.md). A
// plugin whose settings cannot be read here reads them at its launch,
// which reports the error.
func (m *Manager) readSettingsAhead(ctx context.Context, level []*manifest.Manifest) {
	if m.deps.SavedSettings == nil || len(level) < 2 {
		return
	}
	ahead := make(map[string]json.RawMessage, len(level))
	for _, man := range level {
		if saved, err := m.deps.SavedSettings(ctx, man.Name); err == nil {
			ahead[man.Name] = saved
		}
	}
	m.aheadMu.Lock()
	m.ahead = ahead
	m.aheadMu.Unlock()
}

// settingsAhead takes the settings readSettingsAhead read for a plugin:
// only its first launch of the level gets them, so a later launch (a
// restart) reads them again.
func (m *Manager) settingsAhead(name string) (json.RawMessage, bool) {
	m.aheadMu.Lock()
	defer m.aheadMu.Unlock()
	saved, ok := m.ahead[name]
	delete(m.ahead, name)
	return saved, ok
}

// dropSettingsAhead forgets what the level's launches did not take (a
// plugin that did not start), once they have ended.
func (m *Manager) dropSettingsAhead() {
	m.aheadMu.Lock()
	m.ahead = nil
	m.aheadMu.Unlock()
}

// effective merges the file's and the saved settings and adds the host's
// defaults. man may be nil (a plugin not discovered yet): then only the
// default location is added.
func (m *Manager) effective(name string, man *manifest.Manifest, saved json.RawMessage) (json.RawMessage, error) {
	eff, err := MergeSettings(m.cfg.PluginSettings(name), saved)
	if err != nil {
		return nil, err
	}
	if eff, err = m.withDefaultLocation(name, eff); err != nil {
		return nil, err
	}
	return m.withHostDefaults(name, man, eff)
}

// withHostDefaults adds the host's defaults for a plugin
// (config.Config.PluginDefaults: the notify plugin's message_delay_ms and
// max_sessions from WHATSAPP_MESSAGE_DELAY and WHATSAPP_MAX_SESSIONS) that
// its settings leave out and its config_schema declares: the plugin's own
// settings win. A default the config_schema refuses is a
// *manifest.SettingsError that names the host setting it came from.
func (m *Manager) withHostDefaults(name string, man *manifest.Manifest, eff json.RawMessage) (json.RawMessage, error) {
	defs := m.cfg.PluginDefaults(name)
	if len(defs) == 0 || man == nil {
		return eff, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(eff, &obj); err != nil {
		return nil, fmt.Errorf("settings are not a JSON object: %v", err)
	}
	var added []string
	for k, d := range defs {
		if _, set := obj[k]; set || !man.DeclaresSetting(k) {
			continue
		}
		raw, err := json.Marshal(d.Value)
		if err != nil {
			return nil, err
		}
		obj[k] = raw
		added = append(added, k)
	}
	if len(added) == 0 {
		return eff, nil
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var se *manifest.SettingsError
	if err := man.ValidateSettings(out); errors.As(err, &se) {
		for _, v := range se.Violations {
			for _, k := range added {
				if v.Location == "/"+k {
					v.Message = fmt.Sprintf("%s (the host's default, from %s = %v: change it, or set %s in the plugin's settings: admin UI, or PUT /api/v1/plugin-settings/%s)",
						v.Message, defs[k].From, defs[k].Value, k, name)
					return nil, &manifest.SettingsError{Plugin: name, Violations: []manifest.Violation{v}}
				}
			}
		}
	}
	return out, nil
}

// withDefaultLocation adds the host's default router location
// (router.default_location, the old MIKROTIK_* variables) to the router
// plugin's "locations", unless a location of that id is configured there
// already: the plugin's own settings win.
func (m *Manager) withDefaultLocation(name string, eff json.RawMessage) (json.RawMessage, error) {
	loc := m.cfg.DefaultLocationSetting()
	if name != config.DefaultRouterPlugin || loc == nil {
		return eff, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(eff, &obj); err != nil {
		return nil, fmt.Errorf("settings are not a JSON object: %v", err)
	}
	var locs []map[string]any
	if raw, ok := obj["locations"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &locs); err != nil {
			return nil, fmt.Errorf("settings: \"locations\" must be a list of objects to add router.default_location (MIKROTIK_HOST) to: %v", err)
		}
	}
	for _, l := range locs {
		if l["id"] == loc["id"] {
			return eff, nil
		}
	}
	locs = append(locs, loc)
	raw, err := json.Marshal(locs)
	if err != nil {
		return nil, err
	}
	obj["locations"] = raw
	return json.Marshal(obj)
}

// EffectiveSettings is what the plugin would be configured with if saved
// were its saved settings, checked against its manifest's config_schema.
// The error wraps a *manifest.SettingsError when the schema refuses them.
func (m *Manager) EffectiveSettings(name string, saved json.RawMessage) (json.RawMessage, error) {
	var man *manifest.Manifest
	p, ok := m.Plugin(name)
	if ok {
		man = p.Manifest()
	}
	eff, err := m.effective(name, man, saved)
	if err != nil {
		return nil, err
	}
	if man != nil {
		if err := man.ValidateSettings(eff); err != nil {
			return nil, err
		}
	}
	return eff, nil
}

// ErrSettingsRefused wraps a plugin's refusal of new settings.
var ErrSettingsRefused = errors.New("the plugin refused the settings")

// Reconfigure hands a running plugin new settings (saved merged over the
// file's, as at launch) and returns its warnings. A plugin that is not
// running gets them when it next starts; an unknown one is not an error
// (the settings wait for its installation).
func (m *Manager) Reconfigure(ctx context.Context, name string, saved json.RawMessage) ([]string, error) {
	eff, err := m.EffectiveSettings(name, saved)
	if err != nil {
		return nil, err
	}
	p, ok := m.Plugin(name)
	if !ok {
		return nil, nil
	}
	return p.reconfigure(ctx, &sdk.ConfigureRequest{
		Settings: eff, Environment: m.cfg.Environment, HostVersion: m.deps.HostVersion, DataDir: m.cfg.PluginDataDir(name),
	})
}
