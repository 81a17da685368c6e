package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// PluginSettings are a plugin's settings as the operator saved them.
type PluginSettings struct {
	Plugin string `json:"plugin"`
	// Settings is the JSON object, secret fields decrypted.
	Settings json.RawMessage `json:"settings"`
	// Encrypted names the secret paths whose values are stored encrypted
	// (sorted): the secret fields at the last save.
	Encrypted []string  `json:"encrypted"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SavePluginSettings stores a plugin's settings (a JSON object; empty
// counts as {}), replacing what was there, with the secret values at the
// secretFields paths encrypted by cip (the manifest's SecretFields:
// "api_key", or "locations[].password" for a field of every item of a
// list). A secret value is a string, or a list or an object of strings
// ("webhook_secrets": ["whsec_...", ...]), each string encrypted on its
// own. A secret that is absent, null or "" is stored as it is; one that
// holds a number or a boolean is ErrInvalid (it could not be encrypted and
// given back unchanged). cip may be nil only when there is no secret to
// encrypt. by records who saved them.
func (q *Queries) SavePluginSettings(ctx context.Context, plugin string, settings json.RawMessage, secretFields []string, by string, cip *Cipher) error {
	if plugin == "" {
		return fmt.Errorf("save plugin settings: %w: no plugin name", ErrInvalid)
	}
	obj, err := DecodeSettings(settings)
	if err != nil {
		return fmt.Errorf("save settings of plugin %q: %w", plugin, err)
	}
	for _, f := range OutermostSecretPaths(secretFields) {
		err := MapSecret(obj, f, func(plain string) (any, error) {
			if cip == nil {
				return nil, errNoCipher
			}
			enc, err := cip.Encrypt(plain)
			if err != nil {
				return nil, fmt.Errorf("encrypt %q: %w", f, err)
			}
			return enc, nil
		})
		if err != nil {
			return fmt.Errorf("save settings of plugin %q: %w", plugin, err)
		}
	}
	stored, err := EncodeSettings(obj)
	if err != nil {
		return fmt.Errorf("save settings of plugin %q: %w", plugin, err)
	}
	_, err = q.db.Exec(ctx, `INSERT INTO plugin_settings (plugin, settings_json, updated_by, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (plugin) DO UPDATE SET settings_json = excluded.settings_json, updated_by = excluded.updated_by,
		updated_at = excluded.updated_at`, plugin, string(stored), by, Millis(q.store.now()))
	if err != nil {
		return fmt.Errorf("save settings of plugin %q: %w", plugin, err)
	}
	return nil
}

// GetPluginSettings reads a plugin's settings and decrypts the encrypted
// values with cip, wherever they are. No saved settings is ErrNotFound;
// values encrypted with another key are ErrDecrypt.
func (q *Queries) GetPluginSettings(ctx context.Context, plugin string, cip *Cipher) (*PluginSettings, error) {
	ps := PluginSettings{Plugin: plugin}
	var stored string
	var updated int64
	err := q.db.QueryRow(ctx, "SELECT settings_json, updated_by, updated_at FROM plugin_settings WHERE plugin = ?", plugin).
		Scan(&stored, &ps.UpdatedBy, &updated)
	if err != nil {
		return nil, fmt.Errorf("settings of plugin %q: %w", plugin, err)
	}
	ps.UpdatedAt = FromMillis(updated)
	obj, err := DecodeSettings(json.RawMessage(stored))
	if err != nil {
		return nil, fmt.Errorf("settings of plugin %q: %w", plugin, err)
	}
	seen := map[string]bool{}
	if _, err := walkStrings(obj, "", func(path, s string) (any, error) {
		if !IsEncrypted(s) {
			return s, nil
		}
		if cip == nil {
			return nil, errNoCipher
		}
		plain, err := cip.Decrypt(s)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", path, err)
		}
		if !seen[path] {
			seen[path] = true
			ps.Encrypted = append(ps.Encrypted, path)
		}
		return plain, nil
	}); err != nil {
		return nil, fmt.Errorf("settings of plugin %q: %w", plugin, err)
	}
	sort.Strings(ps.Encrypted)
	if ps.Settings, err = EncodeSettings(obj); err != nil {
		return nil, fmt.Errorf("settings of plugin %q: %w", plugin, err)
	}
	return &ps, nil
}

// LoadPluginSettings returns a plugin's settings with the secret fields
// decrypted, ready for the plugin's Configure. No saved settings is
// ErrNotFound (the plugin then runs on its defaults or the configuration
// file's settings).
func (q *Queries) LoadPluginSettings(ctx context.Context, plugin string, cip *Cipher) (json.RawMessage, error) {
	ps, err := q.GetPluginSettings(ctx, plugin, cip)
	if err != nil {
		return nil, err
	}
	return ps.Settings, nil
}

// DeletePluginSettings removes a plugin's saved settings (ErrNotFound when
// there are none).
func (q *Queries) DeletePluginSettings(ctx context.Context, plugin string) error {
	n, err := q.db.Exec(ctx, "DELETE FROM plugin_settings WHERE plugin = ?", plugin)
	if err != nil {
		return fmt.Errorf("delete settings of plugin %q: %w", plugin, err)
	}
	if n == 0 {
		return fmt.Errorf("delete settings of plugin %q: %w", plugin, ErrNotFound)
	}
	return nil
}
