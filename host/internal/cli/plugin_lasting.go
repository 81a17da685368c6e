package cli

import (
	"context"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// lastingDisabled is plugins.Deps.LastingDisabled over the store: the
// plugins an operator disabled with --persist (or the plugin page's "keep
// disabled"), each with who and since when.
func lastingDisabled(st *store.Store) func(ctx context.Context) (map[string]string, error) {
	return func(ctx context.Context) (map[string]string, error) {
		d, err := st.Q().PluginsDisabled(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]string, len(d))
		for name, v := range d {
			out[name] = "by " + v.By + " since " + v.At.Local().Format(time.DateTime)
		}
		return out, nil
	}
}
