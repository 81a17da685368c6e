package billing

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/config"
)

// TestNewTakesTheConfigurationsDefaults: what Config leaves out defaults to
// the host configuration's declared defaults, and an empty list of reminder
// days (jobs.reminder_days = []) stays empty: no reminders.
func TestNewTakesTheConfigurationsDefaults(t *testing.T) {
	def := config.DefaultConfig()
	got := New(nil, nil, nil, Config{}, nil).cfg
	want := []any{def.Jobs.ReminderDays, def.Jobs.ExpiryCheckInterval, def.Notifications.Plugin}
	if diff := cmp.Diff(want, []any{got.ReminderDays, got.ExpiryInterval, got.NotifyPlugin}); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if got := New(nil, nil, nil, Config{ReminderDays: []int{}}, nil).cfg.ReminderDays; len(got) != 0 {
		t.Errorf("ReminderDays = %v for an empty list, want none", got)
	}
}
