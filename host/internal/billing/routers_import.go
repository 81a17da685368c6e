package billing

// The one-off move of routers from a router plugin's saved settings (its
// "locations" list, which operators edited as JSON before routers became
// locations' records) into the store. The host runs it at every start; it
// imports only what the store lacks, so it acts once.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// importedRouter is one item of a router plugin's "locations" setting.
type importedRouter struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Address    string `json:"address"`
	Port       int    `json:"port"`
	TLS        bool   `json:"tls"`
	CAPEM      string `json:"ca_pem"`
	CertSHA256 string `json:"cert_sha256"`
	ServerName string `json:"server_name"`
	Username   string `json:"username"`
	Password   string `json:"password"`
}

// ImportRouters copies the routers listed in the saved settings of each
// router plugin named into the store: a location (made when missing, with
// the item's name as its description) gets the item's connection unless
// it has one already. Each import is audited ("location.router_imported",
// actor "system:import"). It returns the names of the locations whose
// router it imported; run again, it imports nothing.
func (s *Service) ImportRouters(ctx context.Context, plugins []string) ([]string, error) {
	if s.cipher == nil {
		return nil, nil // without a key, no secret was saved either
	}
	var imported []string
	for _, plugin := range plugins {
		ps, err := s.st.Q().GetPluginSettings(ctx, plugin, s.cipher)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return imported, fmt.Errorf("import the routers of plugin %q: %w", plugin, err)
		}
		var settings struct {
			Locations []importedRouter `json:"locations"`
		}
		if err := json.Unmarshal(ps.Settings, &settings); err != nil {
			s.log.Warn("router plugin's saved locations are not a list of routers; nothing imported", "plugin", plugin, "error", err)
			continue
		}
		for _, item := range settings.Locations {
			ok, err := s.importRouter(ctx, plugin, item)
			if err != nil {
				return imported, fmt.Errorf("import router %q of plugin %q: %w", item.ID, plugin, err)
			}
			if ok {
				imported = append(imported, item.ID)
			}
		}
	}
	return imported, nil
}

func (s *Service) importRouter(ctx context.Context, plugin string, item importedRouter) (bool, error) {
	if !store.ValidLocationName(item.ID) || strings.TrimSpace(item.Address) == "" {
		s.log.Warn("router in the plugin's settings not imported: it needs an id and an address", "plugin", plugin, "id", item.ID)
		return false, nil
	}
	done := false
	err := s.st.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		l, err := q.GetLocationByName(ctx, item.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			desc := item.Name
			if desc == item.ID {
				desc = ""
			}
			l = &store.Location{Name: item.ID, Description: desc, Plugin: plugin}
			if err := q.CreateLocation(ctx, l); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if l.Plugin != plugin {
			s.log.Warn("router in the plugin's settings not imported: its location belongs to another router plugin", "plugin", plugin, "location", l.Name, "location_plugin", l.Plugin)
			return nil
		}
		if has, err := q.HasRouterConnection(ctx, l.ID); err != nil || has {
			return err
		}
		username := item.Username
		if username == "" {
			username = "admin"
		}
		c := &store.RouterConnection{LocationID: l.ID, Address: strings.TrimSpace(item.Address), Port: item.Port, TLS: item.TLS,
			CAPEM: item.CAPEM, CertSHA256: item.CertSHA256, ServerName: item.ServerName, Username: username, Password: item.Password}
		if err := q.SetRouterConnection(ctx, c, s.cipher); err != nil {
			return err
		}
		done = true
		if s.queue == nil {
			return nil
		}
		return s.AuditTx(ctx, tx, AuditEvent{Action: "location.router_imported", ResourceType: "location", ResourceID: fmt.Sprint(l.ID),
			Actor: "system:import", Outcome: "success", Metadata: map[string]string{"name": l.Name, "plugin": plugin, "address": c.Address}})
	})
	return done && err == nil, err
}
