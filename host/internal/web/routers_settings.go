package web

// Routers as resources: a location's connection (store.RouterConnection)
// is kept in the store, and the host generates the router plugin's
// "locations" setting from the store on every change, through the path a
// settings save takes (the plugin's Configure first, refused settings are
// not saved; then the saved settings, encrypted, with the change and its
// audit events in one transaction). The plugin gets the passwords only
// through Configure, as before; its settings format stays its contract.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"net/http"
	"reflect"
	"slices"

	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// routerLocationsField is the router plugin's setting the host generates.
const routerLocationsField = "locations"

// routerSettingsItem is one item of the generated "locations" setting
// (the mikrotik plugin's locationSettings; zero values are left out so the
// plugin's defaults apply).
func routerSettingsItem(c store.RouterConnection) map[string]any {
	item := map[string]any{"id": c.LocationName, "address": c.Address, "username": c.Username, "password": c.Password}
	if c.Port != 0 {
		item["port"] = c.Port
	}
	if c.TLS {
		item["tls"] = true
		for k, v := range map[string]string{"ca_pem": c.CAPEM, "cert_sha256": c.CertSHA256, "server_name": c.ServerName} {
			if v != "" {
				item[k] = v
			}
		}
	}
	return item
}

// generatedLocations is the "locations" setting for these connections.
func generatedLocations(conns []store.RouterConnection) []any {
	out := []any{}
	for _, c := range conns {
		out = append(out, routerSettingsItem(c))
	}
	return out
}

// withLocations returns the stored settings (nil: none) with "locations"
// replaced, encoded.
func withLocations(stored *store.PluginSettings, locs []any) (json.RawMessage, map[string]any, error) {
	tree := map[string]any{}
	if stored != nil {
		var err error
		if tree, err = store.DecodeSettings(stored.Settings); err != nil {
			return nil, nil, err
		}
	}
	tree[routerLocationsField] = locs
	raw, err := store.EncodeSettings(tree)
	return raw, tree, err
}

// routerChange is a change to locations that may change routers: the
// plugins whose generated settings it may change, and the connections it
// leaves for each (candidate), computed before the change is made.
type routerChange struct {
	plugins []string
	// candidate returns the plugin's connections once the change is made.
	candidate func(plugin string, now []store.RouterConnection) []store.RouterConnection
}

// routerPrep is a plugin's side of a router change: its stored settings,
// their secret fields and the settings it was handed.
type routerPrep struct {
	stored  *store.PluginSettings
	secrets []string
	handed  json.RawMessage
}

// applyRouterChange makes a change that touches routers: each affected
// plugin is handed its settings with the candidate connections first (a
// refusal is a 422 and nothing is saved), then fn runs in one transaction
// with the plugins' settings regenerated from the store and saved, and
// the audit events. When the transaction fails, the plugins get their
// stored settings back; when another change slipped in between, they get
// what was saved.
func (s *Server) applyRouterChange(r *http.Request, ch routerChange, fn func(q *store.Queries) (*auditEvent, error)) ([]string, error) {
	cip, err := s.catalogCipher()
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	prep := map[string]*routerPrep{}
	var warnings []string
	for _, plugin := range ch.plugins {
		stored, err := s.loadPluginSettings(r, plugin)
		if err != nil {
			return nil, err
		}
		now, err := s.catalogQ().RouterConnections(ctx, plugin, cip)
		if err != nil {
			return nil, err
		}
		raw, tree, err := withLocations(stored, generatedLocations(ch.candidate(plugin, now)))
		if err != nil {
			return nil, err
		}
		p := &routerPrep{stored: stored, secrets: settingsSecretFields(s.installedManifest(plugin), stored, tree), handed: raw}
		if !slices.Contains(p.secrets, routerLocationsField+"[].password") {
			p.secrets = store.OutermostSecretPaths(append(p.secrets, routerLocationsField+"[].password"))
		}
		if s.deps.Plugins != nil {
			w, err := s.deps.Plugins.Reconfigure(ctx, plugin, raw)
			if errors.Is(err, plugins.ErrSettingsRefused) {
				s.restoreRouters(prep)
				return nil, &apiError{http.StatusUnprocessableEntity, "router_refused", fmt.Sprintf("router plugin %q refused the router: %v; nothing was saved", plugin, err), nil}
			}
			if err != nil {
				s.restoreRouters(prep)
				return nil, fmt.Errorf("hand the routers to plugin %q: %w", plugin, err)
			}
			warnings = append(warnings, w...)
		}
		prep[plugin] = p
	}
	saved := map[string]json.RawMessage{}
	by := ""
	if p := PrincipalFrom(ctx); p != nil {
		by = p.Username
	}
	err = s.deps.DB.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		ev, err := fn(q)
		if err != nil {
			return err
		}
		if err := s.auditTx(r, tx, ev); err != nil {
			return err
		}
		for _, plugin := range ch.plugins {
			p := prep[plugin]
			conns, err := q.RouterConnections(ctx, plugin, cip)
			if err != nil {
				return err
			}
			raw, _, err := withLocations(p.stored, generatedLocations(conns))
			if err != nil {
				return err
			}
			if err := q.SavePluginSettings(ctx, plugin, raw, p.secrets, by, cip); err != nil {
				return err
			}
			saved[plugin] = raw
			if err := s.auditTx(r, tx, &auditEvent{Action: "plugin_settings.saved", ResourceType: "plugin", ResourceID: plugin,
				Metadata: map[string]string{"fields": routerLocationsField, "secret_fields": "locations[].password", "generated_from": "locations"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.restoreRouters(prep)
		return nil, refusal(err)
	}
	for plugin, raw := range saved {
		s.announce(ctx, hosts.KindSettings, plugin)
		if !sameJSON(raw, prep[plugin].handed) && s.deps.Plugins != nil {
			if _, err := s.deps.Plugins.Reconfigure(ctx, plugin, raw); err != nil {
				s.log.Error("router plugin keeps routers that are not the saved ones; restart it", "plugin", plugin, "error", err)
			}
		}
		s.restartFailedPlugin(plugin, &warnings)
	}
	return warnings, nil
}

// restoreRouters gives the plugins that were handed new settings their
// stored ones back.
func (s *Server) restoreRouters(prep map[string]*routerPrep) {
	for plugin, p := range prep {
		s.restorePluginSettings(plugin, p.stored)
	}
}

// restartFailedPlugin starts a plugin that could not start (most often:
// no router yet) with its new settings, as a settings save does.
func (s *Server) restartFailedPlugin(name string, warnings *[]string) {
	if s.deps.Plugins == nil {
		return
	}
	if p, ok := s.deps.Plugins.Plugin(name); ok && p.State() == plugins.StateFailed {
		if err := s.deps.Plugins.Restart(name); err != nil {
			*warnings = append(*warnings, "the routers are saved, but the plugin still does not start: "+err.Error())
		}
	}
}

// sameJSON reports whether two JSON documents hold the same values.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// keepStoredRouters puts the routers the store holds for a plugin into
// settings being saved for it (a plugin settings save): once a router
// plugin's routers are in the store, its "locations" setting is generated
// from them, and a different one sent is replaced, with a warning.
func (s *Server) keepStoredRouters(ctx context.Context, plugin string, tree map[string]any) ([]string, error) {
	if s.deps.Cipher == nil {
		return nil, nil // no key: no router can have been stored
	}
	conns, err := s.catalogQ().RouterConnections(ctx, plugin, s.deps.Cipher)
	if err != nil || len(conns) == 0 {
		return nil, err
	}
	want := generatedLocations(conns)
	sent, ok := tree[routerLocationsField]
	tree[routerLocationsField] = want
	a, _ := json.Marshal(sent)
	b, _ := json.Marshal(want)
	if ok && !sameJSON(a, b) {
		return []string{"the routers (\"locations\") are kept with the locations: add, change or remove them on the locations page or at /api/v1/locations; the ones sent here were not saved"}, nil
	}
	return nil, nil
}
