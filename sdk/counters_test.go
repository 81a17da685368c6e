package sdk_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mikrobill/mikrobill/sdk"
)

func TestCounters(t *testing.T) {
	c := sdk.NewCounters("pay_api_requests_total", "Calls by operation and outcome.", "operation", "outcome")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Inc("status", "ok") })
	}
	wg.Wait()
	c.Inc("create", "503")
	c.Inc("create", "ok")
	c.Inc("status", `say "hi"`)
	// "a" sorts before "ab" although "a"+sep+... would not as one string.
	c.Inc("a", "x")
	c.Inc("ab", "x")
	var b bytes.Buffer
	c.WriteText(&b)
	want := `# HELP pay_api_requests_total Calls by operation and outcome.
# TYPE pay_api_requests_total counter
pay_api_requests_total{operation="a",outcome="x"} 1
pay_api_requests_total{operation="ab",outcome="x"} 1
pay_api_requests_total{operation="create",outcome="503"} 1
pay_api_requests_total{operation="create",outcome="ok"} 1
pay_api_requests_total{operation="status",outcome="ok"} 10
pay_api_requests_total{operation="status",outcome="say \"hi\""} 1
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("WriteText (-want +got):\n%s", d)
	}
	if c.Get("status", "ok") != 10 || c.Get("status", "never") != 0 {
		t.Errorf("Get = %d, %d", c.Get("status", "ok"), c.Get("status", "never"))
	}

	empty := sdk.NewCounters("pay_webhooks_total", "Webhooks.", "result")
	b.Reset()
	empty.WriteText(&b)
	if b.String() != "# HELP pay_webhooks_total Webhooks.\n# TYPE pay_webhooks_total counter\n" {
		t.Errorf("no samples: %q", b.String())
	}
	defer func() {
		if recover() == nil {
			t.Error("Inc with the wrong number of label values did not panic")
		}
	}()
	empty.Inc("a", "b")
}

// TestCountersText: the text is expfmt's, so a scrape parses it back to what
// was counted, whatever the label values hold.
func TestCountersText(t *testing.T) {
	c := sdk.NewCounters("pay_notifications_total", "Notifications by result.\nOne line per result, \\ escaped.", "result")
	c.Inc("refusé")
	c.Inc("line\nbreak")
	c.Inc(`back\slash`)
	var b bytes.Buffer
	c.WriteText(&b)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatalf("the text does not parse: %v\n%s", err, b.String())
	}
	mf := mfs["pay_notifications_total"]
	if mf == nil || mf.GetHelp() != "Notifications by result.\nOne line per result, \\ escaped." || len(mf.GetMetric()) != 3 {
		t.Fatalf("parsed back: %v", mfs)
	}
	got := map[string]float64{}
	for _, m := range mf.GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	if d := cmp.Diff(map[string]float64{"refusé": 1, "line\nbreak": 1, `back\slash`: 1}, got); d != "" {
		t.Errorf("parsed samples (-want +got):\n%s", d)
	}

	defer func() {
		if recover() == nil {
			t.Error("NewCounters without a name did not panic")
		}
	}()
	sdk.NewCounters("", "No name.")
}

func TestMetricsText(t *testing.T) {
	reg := prometheus.NewRegistry()
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "thing_up", Help: "Up."}, []string{"where"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "thing_seconds", Help: "Time.", Buckets: []float64{0.1, 1}})
	reg.MustRegister(up, h)
	up.WithLabelValues("a").Set(1)
	h.Observe(0.5)
	text, err := sdk.MetricsText(reg)
	if err != nil {
		t.Fatal(err)
	}
	want := `# HELP thing_seconds Time.
# TYPE thing_seconds histogram
thing_seconds_bucket{le="0.1"} 0
thing_seconds_bucket{le="1"} 1
thing_seconds_bucket{le="+Inf"} 1
thing_seconds_sum 0.5
thing_seconds_count 1
# HELP thing_up Up.
# TYPE thing_up gauge
thing_up{where="a"} 1
`
	if d := cmp.Diff(want, string(text)); d != "" {
		t.Errorf("MetricsText (-want +got):\n%s", d)
	}
}
