package history

import (
	"math"
	"time"
)

// Series is a plugin's history as column arrays, oldest first: the i-th
// value of every array describes the sample taken at Time[i], so a chart
// library that takes columns (uPlot: [time, values...]) plots them as they
// are. A value that is not known is null, a gap in the chart: memory and
// CPU while no process runs (or on a system without /proc), CPU for the
// first sample of a process, latency for an interval without calls.
type Series struct {
	Plugin string `json:"plugin"`
	// IntervalSeconds is the sampling interval (plugins.history_interval);
	// WindowSeconds how far back the history reaches when full; Capacity
	// how many samples that is.
	IntervalSeconds float64 `json:"interval_seconds"`
	WindowSeconds   float64 `json:"window_seconds"`
	Capacity        int     `json:"capacity"`
	// Time is when each sample was taken, in Unix seconds (milliseconds
	// as the fraction).
	Time []float64 `json:"time"`
	// State and Health are the plugin's state and health status
	// ("ok", "degraded", "error", "unknown" while it does not run).
	State  []string `json:"state"`
	Health []string `json:"health"`
	// Restarts counts the plugin's restarts since the host started.
	Restarts []int `json:"restarts"`
	// RSSBytes is the resident memory of the plugin's process.
	RSSBytes []*uint64 `json:"rss_bytes"`
	// CPUPercent is the CPU the process used since the sample before, in
	// percent of one core (above 100 when it used several).
	CPUPercent []*float64 `json:"cpu_percent"`
	// Calls and Errors count the calls the host made to the plugin since
	// the sample before, and those that failed.
	Calls  []uint64 `json:"calls"`
	Errors []uint64 `json:"errors"`
	// LatencyMeanMS, LatencyP50MS and LatencyP99MS describe those calls'
	// durations, in milliseconds.
	LatencyMeanMS []*float64 `json:"latency_mean_ms"`
	LatencyP50MS  []*float64 `json:"latency_p50_ms"`
	LatencyP99MS  []*float64 `json:"latency_p99_ms"`
}

// Columns turns samples (oldest first) taken every interval into a Series,
// with a few allocations per column whatever the number of samples. With
// sinceMilli above zero, only the samples taken after that time (Unix
// milliseconds) are in it: a page that polls asks for what it does not
// have yet.
func Columns(plugin string, interval time.Duration, capacity int, samples []Sample, sinceMilli int64) Series {
	from := 0
	if sinceMilli > 0 {
		for from < len(samples) && samples[from].Time.UnixMilli() <= sinceMilli {
			from++
		}
	}
	n := len(samples) - from
	s := Series{
		Plugin: plugin, IntervalSeconds: interval.Seconds(), WindowSeconds: Window.Seconds(), Capacity: capacity,
		Time: make([]float64, n), State: make([]string, n), Health: make([]string, n), Restarts: make([]int, n),
		RSSBytes: make([]*uint64, n), CPUPercent: make([]*float64, n), Calls: make([]uint64, n), Errors: make([]uint64, n),
		LatencyMeanMS: make([]*float64, n), LatencyP50MS: make([]*float64, n), LatencyP99MS: make([]*float64, n),
	}
	rss := make([]uint64, n)
	// The float columns' values, which their pointers point into.
	cpu, mean, p50, p99 := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		j := from + i // the sample's place in samples: the one before it gives the CPU use
		x := samples[j]
		s.Time[i] = float64(x.Time.UnixMilli()) / 1000
		s.State[i], s.Health[i], s.Restarts[i] = x.State, x.Health, x.Restarts
		s.Calls[i], s.Errors[i] = x.Latency.Calls, x.Latency.Errors
		if x.Process.OK {
			rss[i] = x.Process.RSSBytes
			s.RSSBytes[i] = &rss[i]
			if j > 0 {
				if pct, ok := cpuPercent(samples[j-1], x); ok {
					cpu[i] = pct
					s.CPUPercent[i] = &cpu[i]
				}
			}
		}
		if x.Latency.Calls > 0 {
			mean[i], p50[i], p99[i] = millis(x.Latency.Mean), millis(x.Latency.P50), millis(x.Latency.P99)
			s.LatencyMeanMS[i], s.LatencyP50MS[i], s.LatencyP99MS[i] = &mean[i], &p50[i], &p99[i]
		}
	}
	return s
}

// cpuPercent is the CPU the process of cur used since prev, in percent of
// one core, when both samples read the same process.
func cpuPercent(prev, cur Sample) (float64, bool) {
	elapsed := cur.Time.Sub(prev.Time).Seconds()
	if !prev.Process.OK || prev.PID != cur.PID || elapsed <= 0 || cur.Process.CPUSeconds < prev.Process.CPUSeconds {
		return 0, false
	}
	return round3((cur.Process.CPUSeconds - prev.Process.CPUSeconds) / elapsed * 100), true
}

func millis(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

// round3 keeps three decimals: enough for a chart, and short in JSON.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
