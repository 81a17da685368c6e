package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mikrobill/mikrobill/host/internal/config"
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
// merged with the saved ones (Deps.SavedSettings).
func (m *Manager) settings(ctx context.Context, name string) (json.RawMessage, error) {
	var saved json.RawMessage
	if m.deps.SavedSettings != nil {
		var err error
		if saved, err = m.deps.SavedSettings(ctx, name); err != nil {
			return nil, fmt.Errorf("read its saved settings: %w", err)
		}
	}
	eff, err := MergeSettings(m.cfg.PluginSettings(name), saved)
	if err != nil {
		return nil, err
	}
	return m.withDefaultLocation(name, eff)
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
	eff, err := MergeSettings(m.cfg.PluginSettings(name), saved)
	if err != nil {
		return nil, err
	}
	if eff, err = m.withDefaultLocation(name, eff); err != nil {
		return nil, err
	}
	if p, ok := m.Plugin(name); ok && p.Manifest() != nil {
		if err := p.Manifest().ValidateSettings(eff); err != nil {
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
