package sdk

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Counters is a family of Prometheus counters that share a name and label
// names, for a plugin's CollectMetrics: Inc where the plugin does something,
// WriteText in CollectMetrics (see the example). It is a client_golang
// CounterVec in a registry of its own; for gauges, histograms or several
// families, register client_golang collectors and render them with
// MetricsText.
//
// It is safe for concurrent use.
type Counters struct {
	name   string
	help   string
	labels []string
	vec    *prometheus.CounterVec
	reg    *prometheus.Registry
}

// NewCounters makes a counter family. Every Inc gives one value per label
// name, in this order. It panics when client_golang refuses the name or a
// label name (empty, not UTF-8, or a reserved label such as "le"): that is
// a bug in the plugin.
func NewCounters(name, help string, labels ...string) *Counters {
	c := &Counters{
		name:   name,
		help:   help,
		labels: labels,
		vec:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels),
		reg:    prometheus.NewRegistry(),
	}
	c.reg.MustRegister(c.vec)
	return c
}

// Inc adds one to the counter of these label values. It panics when the
// number of values is not the number of label names: that is a bug in the
// plugin, not something to report at run time.
func (c *Counters) Inc(values ...string) {
	if len(values) != len(c.labels) {
		panic(fmt.Sprintf("sdk.Counters %s: %d label values for %d labels %v", c.name, len(values), len(c.labels), c.labels))
	}
	c.vec.WithLabelValues(values...).Inc()
}

// Get is the counter of these label values (0 when never incremented).
func (c *Counters) Get(values ...string) uint64 {
	mf := c.gather()
	if mf == nil {
		return 0
	}
	want := make(map[string]string, len(c.labels))
	for i, l := range c.labels {
		if i < len(values) {
			want[l] = values[i]
		}
	}
	for _, m := range mf.GetMetric() {
		if labelsAre(m, want) {
			return uint64(m.GetCounter().GetValue())
		}
	}
	return 0
}

func labelsAre(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
			return false
		}
	}
	return true
}

// gather is the family as the registry gathers it, nil when it has no
// samples yet.
func (c *Counters) gather() *dto.MetricFamily {
	mfs, err := c.reg.Gather()
	if err != nil || len(mfs) == 0 {
		// A CounterVec of one registry cannot be inconsistent; no sample is
		// the only way to get nothing.
		return nil
	}
	return mfs[0]
}

// WriteText writes the family in the Prometheus text format (expfmt): HELP
// and TYPE lines, then one sample per set of label values, sorted by them.
// A family without samples still gets its HELP and TYPE lines, so a scrape
// shows what the plugin counts before it first counts it.
func (c *Counters) WriteText(b *bytes.Buffer) {
	if mf := c.gather(); mf != nil {
		_, _ = expfmt.MetricFamilyToText(b, mf)
		return
	}
	// expfmt refuses a family without samples: render one zero sample and
	// keep the two comment lines before it.
	probe := prometheus.NewCounterVec(prometheus.CounterOpts{Name: c.name, Help: c.help}, c.labels)
	probe.WithLabelValues(make([]string, len(c.labels))...)
	reg := prometheus.NewRegistry()
	reg.MustRegister(probe)
	var tmp bytes.Buffer
	if mfs, err := reg.Gather(); err == nil && len(mfs) == 1 {
		_, _ = expfmt.MetricFamilyToText(&tmp, mfs[0])
	}
	lines := strings.SplitAfterN(tmp.String(), "\n", 3)
	if len(lines) == 3 {
		b.WriteString(lines[0] + lines[1])
	}
}

// MetricsText gathers g and renders it in the Prometheus text format, as
// CollectMetricsResponse.Text wants it: the families sorted by name, their
// samples by label values.
func MetricsText(g prometheus.Gatherer) ([]byte, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return nil, fmt.Errorf("render metric %s: %w", mf.GetName(), err)
		}
	}
	return b.Bytes(), nil
}
