// Package metrics holds the host's Prometheus metrics: its own, the plugins'
// process figures read from /proc, per-RPC latencies measured by a gRPC
// client interceptor, and each plugin's own CollectMetrics output merged in
// with a plugin label.
//
// Start with New and Handler.
package metrics

import (
	"context"
	"net/http"
	"path"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics is the host's metrics registry and its instruments.
type Metrics struct {
	// Registry holds the host's own collectors.
	Registry *prometheus.Registry

	// PluginUp is 1 while a plugin is running, 0 otherwise.
	PluginUp *prometheus.GaugeVec
	// PluginLoad is how long a plugin's last launch took, up to a
	// configured and healthy plugin.
	PluginLoad *prometheus.GaugeVec
	// PluginRPC is the latency of calls to plugins by plugin, method and
	// gRPC code.
	PluginRPC *prometheus.HistogramVec
	// PluginRestarts counts restarts by plugin.
	PluginRestarts *prometheus.CounterVec
	// PluginState is 1 for each plugin's current state, 0 for the others.
	PluginState *prometheus.GaugeVec
	// HTTPDuration is the latency of HTTP requests by method, route
	// template and status code.
	HTTPDuration *prometheus.HistogramVec
}

// New returns the host's metrics, with the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		PluginUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mikrobill_plugin_up", Help: "1 while the plugin is running, 0 otherwise.",
		}, []string{"plugin"}),
		PluginLoad: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mikrobill_plugin_load_seconds", Help: "Duration of the plugin's last launch, from exec to configured and healthy.",
		}, []string{"plugin"}),
		PluginRPC: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mikrobill_plugin_rpc_duration_seconds",
			Help:    "Latency of calls from the host to plugins.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"plugin", "method", "code"}),
		PluginRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mikrobill_plugin_restarts_total", Help: "Restarts of the plugin by the supervisor.",
		}, []string{"plugin"}),
		PluginState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mikrobill_plugin_state", Help: "1 for the plugin's current state, 0 for the others.",
		}, []string{"plugin", "state"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mikrobill_http_request_duration_seconds",
			Help:    "Latency of HTTP requests by route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "code"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.PluginUp, m.PluginLoad, m.PluginRPC, m.PluginRestarts, m.PluginState, m.HTTPDuration,
	)
	return m
}

// UnaryClientInterceptor measures every call to one plugin.
func (m *Metrics) UnaryClientInterceptor(plugin string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		m.PluginRPC.WithLabelValues(plugin, path.Base(method), status.Code(err).String()).Observe(time.Since(start).Seconds())
		return err
	}
}

// Handler serves /metrics: the host's registry plus extra gatherers (the
// plugins' own metrics). Errors in one source do not fail the scrape.
func (m *Metrics) Handler(extra ...prometheus.Gatherer) http.Handler {
	gs := prometheus.Gatherers{m.Registry}
	gs = append(gs, extra...)
	return promhttp.HandlerFor(gs, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
