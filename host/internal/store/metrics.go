package store

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports the store's connection pool and whether it answers,
// and on SQLite how its one writer was used.
type Collector struct {
	s                                 *Store
	open, inUse, idle, max, waits, up *prometheus.Desc
	waited                            *prometheus.Desc
	turnHeld, turnWaits, turnWaited   *prometheus.Desc
	commits, committed                *prometheus.Desc
	checkpoints, checkpointFailures   *prometheus.Desc
	checkpointsInTurn                 *prometheus.Desc
	walFrames, walBehind              *prometheus.Desc
}

// NewCollector returns the store's collector; register it.
func NewCollector(s *Store) *Collector {
	l := prometheus.Labels{"driver": s.Driver()}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("mikrobill_db_"+name, help, nil, l)
	}
	return &Collector{
		s:      s,
		open:   d("connections_open", "Connections open in the pool."),
		inUse:  d("connections_in_use", "Connections in use."),
		idle:   d("connections_idle", "Connections idle."),
		max:    d("connections_max", "The pool's size limit."),
		waits:  d("connection_waits_total", "Times a query waited for a free connection."),
		waited: d("connection_wait_seconds_total", "Time queries spent waiting for a free connection."),
		up:     d("up", "1 when the database answers a query, 0 otherwise."),
		turnHeld: d("write_turn_held_seconds_total", "SQLite only: time this host's write turn at the embedded database was held, by a "+
			"transaction or a write outside one. Its rate near 1 means writes are what bounds the host (consider PostgreSQL)."),
		turnWaits:  d("write_turn_waits_total", "SQLite only: writes and transactions that waited for the write turn."),
		turnWaited: d("write_turn_wait_seconds_total", "SQLite only: time writes and transactions waited for the write turn."),
		commits: d("write_group_commits_total", "SQLite only: commits of the write turn: a transaction or write alone, or a group of "+
			"those that waited for the turn, committed together."),
		committed: d("write_group_transactions_total", "SQLite only: transactions and writes committed in groups; "+
			"divided by mikrobill_db_write_group_commits_total, the mean group."),
		checkpoints: d("wal_checkpoints_total", "SQLite only: checkpoints of the WAL into the database file, which the host "+
			"runs beside the writer (not on commit)."),
		checkpointFailures: d("wal_checkpoint_failures_total", "SQLite only: checkpoints that failed; the WAL keeps what they "+
			"did not copy (nothing is lost) and the next checkpoint tries again."),
		checkpointsInTurn: d("wal_checkpoints_in_write_turn_total", "SQLite only: checkpoints that took the write turn because "+
			"the WAL had grown past 4,000 pages under writes without a pause (writers waited for them)."),
		walFrames: d("wal_frames", "SQLite only: pages in the WAL at the last checkpoint."),
		walBehind: d("wal_frames_behind", "SQLite only: pages the last checkpoint could not copy because a reader still "+
			"read an older snapshot. Growing for minutes: a long read holds the WAL."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.max, c.waits, c.waited, c.up, c.turnHeld, c.turnWaits, c.turnWaited,
		c.commits, c.committed, c.checkpoints, c.checkpointFailures, c.checkpointsInTurn, c.walFrames, c.walBehind} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(st.Open))
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(st.InUse))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(st.Idle))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(st.MaxOpen))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(st.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.waited, prometheus.CounterValue, st.WaitDuration.Seconds())
	if wt, ok := c.s.WriteTurn(); ok {
		ch <- prometheus.MustNewConstMetric(c.turnHeld, prometheus.CounterValue, wt.Held.Seconds())
		ch <- prometheus.MustNewConstMetric(c.turnWaits, prometheus.CounterValue, float64(wt.Waits))
		ch <- prometheus.MustNewConstMetric(c.turnWaited, prometheus.CounterValue, wt.Waited.Seconds())
		ch <- prometheus.MustNewConstMetric(c.commits, prometheus.CounterValue, float64(wt.Commits))
		ch <- prometheus.MustNewConstMetric(c.committed, prometheus.CounterValue, float64(wt.Committed))
	}
	if cp, ok := c.s.Checkpoints(); ok {
		ch <- prometheus.MustNewConstMetric(c.checkpoints, prometheus.CounterValue, float64(cp.Runs))
		ch <- prometheus.MustNewConstMetric(c.checkpointFailures, prometheus.CounterValue, float64(cp.Failures))
		ch <- prometheus.MustNewConstMetric(c.checkpointsInTurn, prometheus.CounterValue, float64(cp.InTurn))
		ch <- prometheus.MustNewConstMetric(c.walFrames, prometheus.GaugeValue, float64(cp.WALFrames))
		ch <- prometheus.MustNewConstMetric(c.walBehind, prometheus.GaugeValue, float64(cp.Behind))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	up := 1.0
	if err := c.s.Ping(ctx); err != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}
