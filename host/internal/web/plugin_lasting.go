package web

import (
	"context"
	"fmt"
	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"net/http"
	"strconv"
)

// Lasting disables: POST /api/v1/plugins/{name}/disable?persist=true (and
// the plugin page's "keep disabled after restarts") disables the plugin and
// records it in the store, so the next start of any host leaves it
// disabled; enable clears the record (store.Queries.SetPluginDisabled).

// persistParam reads ?persist= (true or false; absent: false).
func persistParam(r *http.Request) (bool, error) {
	raw := r.URL.Query().Get("persist")
	if raw == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		var val validation
		val.check(false, "persist", "true (keep the plugin disabled after restarts) or false")
		return false, val.err()
	}
	return v, nil
}

// disablePluginFor disables a plugin, and when lasting, records it so it
// stays disabled across restarts until enabled, and on every host sharing
// the store (a disable that is not lasting is this host's only).
func (s *Server) disablePluginFor(ctx context.Context, name, by string, lasting bool) error {
	if err := s.deps.Plugins.Disable(name); err != nil {
		return err
	}
	if !lasting {
		return nil
	}
	if s.deps.DB == nil {
		return fmt.Errorf("the plugin is disabled, but there is no store to keep it disabled after a restart")
	}
	if err := s.deps.DB.Q().SetPluginDisabled(ctx, name, by); err != nil {
		return err
	}
	s.announce(ctx, hosts.KindDisable, name)
	return nil
}

// enablePluginFor forgets a lasting disable and starts the plugin, on
// every host that followed the lasting disable.
func (s *Server) enablePluginFor(ctx context.Context, name string) error {
	if _, ok := s.deps.Plugins.Plugin(name); ok && s.deps.DB != nil {
		if err := s.deps.DB.Q().ClearPluginDisabled(ctx, name); err != nil {
			return err
		}
		defer s.announce(ctx, hosts.KindDisable, name)
	}
	return s.deps.Plugins.Enable(name)
}
