package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
)

// Collector reports the queue: jobs by kind and state (read from River's
// table at scrape time) and finished runs by kind and outcome.
type Collector struct {
	q        *Queue
	jobs     *prometheus.Desc
	finished *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewCollector returns the queue's collector; Watch feeds its counters.
func NewCollector(q *Queue) *Collector {
	return &Collector{
		q:    q,
		jobs: prometheus.NewDesc("mikrobill_jobs", "Jobs in River's table by kind and state.", []string{"kind", "state"}, nil),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mikrobill_job_runs_total", Help: "Finished job runs by kind and outcome (completed, failed, cancelled, snoozed).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mikrobill_job_run_duration_seconds", Help: "How long job runs took.",
			Buckets: []float64{.005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind"}),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	c.finished.Describe(ch)
	c.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := c.q.Counts(ctx); err == nil {
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), k[0], k[1])
		}
	}
	c.finished.Collect(ch)
	c.duration.Collect(ch)
}

// Watch counts finished runs until ctx ends. Call it after Start.
func (c *Collector) Watch(ctx context.Context) {
	events, cancel := c.q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			outcome := map[river.EventKind]string{
				river.EventKindJobCompleted: "completed", river.EventKindJobFailed: "failed",
				river.EventKindJobCancelled: "cancelled", river.EventKindJobSnoozed: "snoozed",
			}[e.Kind]
			c.finished.WithLabelValues(e.Job.Kind, outcome).Inc()
			if e.JobStats != nil {
				c.duration.WithLabelValues(e.Job.Kind).Observe(e.JobStats.RunDuration.Seconds())
			}
		}
	}
}
