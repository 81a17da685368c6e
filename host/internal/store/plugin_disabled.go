package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Lasting disables: an operator's `plugin disable --persist` (or the
// plugin page's "keep disabled") is kept in the durable plugin store under
// the host's own namespace, HostRecords, one record per plugin with no
// expiry, so the plugin stays disabled across restarts until it is
// enabled again. HostRecords cannot be a plugin's name (manifest names are
// lowercase letters, digits and '-'), so no plugin reads or writes it.

// HostRecords is the plugin_records namespace of the host's own records.
const HostRecords = "@host"

const disabledPrefix = "plugin-disabled/"

// PluginDisable is a lasting disable: who and when.
type PluginDisable struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// SetPluginDisabled records that plugin stays disabled across restarts.
func (q *Queries) SetPluginDisabled(ctx context.Context, plugin, by string) error {
	v, err := json.Marshal(PluginDisable{By: by, At: q.store.now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return err
	}
	return q.SetPluginRecord(ctx, HostRecords, disabledPrefix+plugin, v, 0)
}

// ClearPluginDisabled forgets a lasting disable; none is not an error.
func (q *Queries) ClearPluginDisabled(ctx context.Context, plugin string) error {
	err := q.DeletePluginRecord(ctx, HostRecords, disabledPrefix+plugin)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// PluginsDisabled returns the lasting disables by plugin name.
func (q *Queries) PluginsDisabled(ctx context.Context) (map[string]PluginDisable, error) {
	out := map[string]PluginDisable{}
	after := ""
	for {
		recs, err := q.ListPluginRecords(ctx, HostRecords, disabledPrefix, after, 100)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			var d PluginDisable
			if err := json.Unmarshal(r.Value, &d); err != nil {
				return nil, fmt.Errorf("lasting disable %q: %w", r.Key, err)
			}
			out[strings.TrimPrefix(r.Key, disabledPrefix)] = d
			after = r.Key
		}
		if len(recs) < 100 {
			return out, nil
		}
	}
}
