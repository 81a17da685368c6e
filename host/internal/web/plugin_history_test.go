package web

import (
	"encoding/json"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestPluginHistoryRoute reads a running plugin's history through the
// API: the column arrays docs/api.md shows, of equal length, oldest first;
// an unknown plugin is 404 in the API's error shape. (The route's roles
// are rolematrix_test.go's.)
func TestPluginHistoryRoute(t *testing.T) {
	pm := startRoutePlugins(t)
	gw := paymentManual(t, pm)
	a := newAuthAPI(t, storetest.SQLite(t), func(d *Deps) {
		d.Plugins = pm
		d.PluginMetrics = prometheus.NewRegistry()
	})
	const pw = "correct horse battery"
	a.user("vera", pw, RoleViewer)
	viewer := withBearer(a.loginJWT("vera", pw))

	createManualPayment(t, gw, "INV-HIST-1")
	// Let the host's sampler take a sample, on its default interval of 5
	// seconds.
	sdktest.WaitFor(t, 60*time.Second, "a sample of payment-manual", func() bool {
		h, _ := pm.History("payment-manual", 0)
		return len(h.Time) >= 1
	})

	r := a.do(http.MethodGet, "/api/v1/plugins/payment-manual/history", nil, viewer)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
	}
	var body map[string]json.RawMessage
	r.json(t, &body)
	var head struct {
		Plugin          string  `json:"plugin"`
		IntervalSeconds float64 `json:"interval_seconds"`
		WindowSeconds   float64 `json:"window_seconds"`
		Capacity        int     `json:"capacity"`
	}
	r.json(t, &head)
	if head.Plugin != "payment-manual" || head.IntervalSeconds != 5 || head.WindowSeconds != 3600 || head.Capacity != 720 {
		t.Errorf("head %+v; want payment-manual, 5s, 3600s, 720 samples", head)
	}
	columns := []string{"time", "state", "health", "restarts", "rss_bytes", "cpu_percent", "calls", "errors", "latency_mean_ms", "latency_p50_ms", "latency_p99_ms"}
	n := -1
	for _, c := range columns {
		var col []any
		if err := json.Unmarshal(body[c], &col); err != nil {
			t.Fatalf("%s = %s: not an array: %v", c, body[c], err)
		}
		if n < 0 {
			n = len(col)
		}
		if len(col) != n || n < 1 {
			t.Errorf("%s has %d values, time has %d; want equal columns, not empty", c, len(col), n)
		}
	}
	var cols struct {
		Time     []float64 `json:"time"`
		State    []string  `json:"state"`
		Health   []string  `json:"health"`
		RSSBytes []*uint64 `json:"rss_bytes"`
		Calls    []uint64  `json:"calls"`
	}
	r.json(t, &cols)
	if !slices.IsSorted(cols.Time) {
		t.Errorf("time %v is not oldest first", cols.Time)
	}
	if last := len(cols.State) - 1; cols.State[last] != "running" || cols.Health[last] != "ok" {
		t.Errorf("last sample: %s, %s; want running, ok", cols.State[last], cols.Health[last])
	}
	if runtime.GOOS == "linux" && cols.RSSBytes[len(cols.RSSBytes)-1] == nil {
		t.Error("rss_bytes of a running plugin is null on Linux")
	}
	var calls uint64
	for _, c := range cols.Calls {
		calls += c
	}
	if calls == 0 {
		t.Error("no calls counted; CreatePayment went to the plugin")
	}

	// ?since= the last time: only what came after (nothing yet, or the
	// sampler's next sample).
	last := cols.Time[len(cols.Time)-1]
	r = a.do(http.MethodGet, "/api/v1/plugins/payment-manual/history?since="+strconv.FormatFloat(last, 'f', -1, 64), nil, viewer)
	var newer struct {
		Time []float64 `json:"time"`
	}
	r.json(t, &newer)
	if r.Status != http.StatusOK || newer.Time == nil || (len(newer.Time) > 0 && newer.Time[0] <= last) {
		t.Errorf("since=%v: %d, time %v; want 200 with only samples after it", last, r.Status, newer.Time)
	}
	for _, bad := range []string{"yesterday", "-1", "NaN", "1e300"} {
		r = a.do(http.MethodGet, "/api/v1/plugins/payment-manual/history?since="+bad, nil, viewer)
		if r.Status != http.StatusUnprocessableEntity || r.code() != "validation_failed" {
			t.Errorf("since=%s: %d %s; want 422 validation_failed", bad, r.Status, r.Body)
		}
	}

	r = a.do(http.MethodGet, "/api/v1/plugins/nope/history", nil, viewer)
	if r.Status != http.StatusNotFound || r.code() != "not_found" || r.message() == "" {
		t.Errorf("unknown plugin: %d %s; want 404 not_found with a message", r.Status, r.Body)
	}
}
