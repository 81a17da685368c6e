package cli

import (
	"net/http"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestServeSweepsPluginRecords: `mikrobill serve` runs the sweep of the
// plugins' expired durable-store records as a periodic job, once at start
// (on the leader) and hourly after.
func TestServeSweepsPluginRecords(t *testing.T) {
	h := startHost(t, testenv.NewPluginDir(t).Dir)
	tok := h.adminToken()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var jobs struct {
			Items []struct {
				State string `json:"state"`
			} `json:"items"`
		}
		code, raw := h.api(http.MethodGet, "/api/v1/jobs?kind=plugin_records_sweep&state=all&limit=10", tok, nil, &jobs)
		if code != http.StatusOK && code != http.StatusTooManyRequests {
			t.Fatalf("list jobs: %d %s", code, raw)
		}
		if code == http.StatusOK && len(jobs.Items) > 0 && jobs.Items[0].State == "completed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no completed plugin_records_sweep job 60s after start: %s", raw)
		}
		time.Sleep(time.Second)
	}
}
