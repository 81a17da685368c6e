package metrics

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"
	"google.golang.org/protobuf/proto"
)

// Source is what the metrics need to know of running plugins.
type Source interface {
	// PIDs returns the process id of every running plugin, by name.
	PIDs() map[string]int
	// CollectMetrics returns one plugin's Prometheus text.
	CollectMetrics(ctx context.Context, name string) ([]byte, error)
}

// ProcessCollector reports each plugin's resident memory and CPU time from
// /proc.
type ProcessCollector struct {
	src Source
	mem *prometheus.Desc
	cpu *prometheus.Desc
}

// NewProcessCollector returns the collector; register it with the registry.
func NewProcessCollector(src Source) *ProcessCollector {
	return &ProcessCollector{
		src: src,
		mem: prometheus.NewDesc("mikrobill_plugin_resident_memory_bytes", "Resident memory of the plugin's process.", []string{"plugin"}, nil),
		cpu: prometheus.NewDesc("mikrobill_plugin_cpu_seconds_total", "User and system CPU time of the plugin's process.", []string{"plugin"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ProcessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mem
	ch <- c.cpu
}

// Collect implements prometheus.Collector.
func (c *ProcessCollector) Collect(ch chan<- prometheus.Metric) {
	for name, pid := range c.src.PIDs() {
		proc, err := procfs.NewProc(pid)
		if err != nil {
			continue // exited between listing and reading
		}
		stat, err := proc.Stat()
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.mem, prometheus.GaugeValue, float64(stat.ResidentMemory()), name)
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, stat.CPUTime(), name)
	}
}

// PluginGatherer gathers every running plugin's own metrics, concurrently,
// each under a timeout, and adds a plugin label. A slow or broken plugin is
// left out of that scrape (and counted), never stalls it.
type PluginGatherer struct {
	src      Source
	timeout  time.Duration
	logger   hclog.Logger
	failures *prometheus.CounterVec
}

// NewPluginGatherer returns the gatherer; its failure counter is registered
// on reg.
func NewPluginGatherer(src Source, timeout time.Duration, logger hclog.Logger, reg prometheus.Registerer) *PluginGatherer {
	g := &PluginGatherer{
		src: src, timeout: timeout, logger: logger,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mikrobill_plugin_metrics_scrape_failures_total",
			Help: "Scrapes in which a plugin's own metrics were left out (timeout, error or unparsable text).",
		}, []string{"plugin"}),
	}
	reg.MustRegister(g.failures)
	return g
}

// Gather implements prometheus.Gatherer.
func (g *PluginGatherer) Gather() ([]*dto.MetricFamily, error) {
	pids := g.src.PIDs()
	type result struct {
		name     string
		families []*dto.MetricFamily
	}
	results := make(chan result, len(pids))
	var wg sync.WaitGroup
	for name := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			text, err := g.src.CollectMetrics(ctx, name)
			if err != nil {
				g.failures.WithLabelValues(name).Inc()
				g.logger.Debug("plugin metrics left out of this scrape", "plugin", name, "error", err)
				return
			}
			fams, err := LabelFamilies(name, text)
			if err != nil {
				g.failures.WithLabelValues(name).Inc()
				g.logger.Warn("plugin metrics are not valid Prometheus text", "plugin", name, "error", err)
				return
			}
			results <- result{name: name, families: fams}
		}()
	}
	wg.Wait()
	close(results)

	merged := map[string]*dto.MetricFamily{}
	for r := range results {
		for _, f := range r.families {
			if prev, ok := merged[f.GetName()]; ok {
				if prev.GetType() != f.GetType() {
					g.logger.Warn("plugins disagree on a metric's type; leaving one out", "metric", f.GetName(), "plugin", r.name)
					continue
				}
				prev.Metric = append(prev.Metric, f.Metric...)
				continue
			}
			merged[f.GetName()] = f
		}
	}
	out := make([]*dto.MetricFamily, 0, len(merged))
	for _, f := range merged {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// LabelFamilies parses a plugin's Prometheus text and adds plugin="<name>"
// to every sample. A label the plugin set itself named "plugin" is kept as
// "exported_plugin".
func LabelFamilies(plugin string, text []byte) ([]*dto.MetricFamily, error) {
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parse metrics of plugin %q: %w", plugin, err)
	}
	out := make([]*dto.MetricFamily, 0, len(parsed))
	for _, f := range parsed {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "plugin" {
					l.Name = proto.String("exported_plugin")
				}
			}
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String("plugin"), Value: proto.String(plugin)})
			sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}
