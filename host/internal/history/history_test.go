package history

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

var t0 = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)

func restartsOf(ss []Sample) []int {
	out := make([]int, len(ss))
	for i, s := range ss {
		out[i] = s.Restarts
	}
	return out
}

func TestRingKeepsTheNewestOldestFirst(t *testing.T) {
	r := NewRing(3)
	if got := r.Samples(); len(got) != 0 || r.Len() != 0 || r.Cap() != 3 {
		t.Fatalf("new ring: %d samples, len %d, cap %d; want empty with cap 3", len(got), r.Len(), r.Cap())
	}
	r.Add(Sample{Restarts: 1})
	r.Add(Sample{Restarts: 2})
	if got := restartsOf(r.Samples()); !slices.Equal(got, []int{1, 2}) || r.Len() != 2 {
		t.Errorf("before it is full: %v (len %d), want [1 2]", got, r.Len())
	}
	for i := 3; i <= 8; i++ {
		r.Add(Sample{Restarts: i})
		if r.Len() > 3 {
			t.Fatalf("after %d samples the ring holds %d; want at most 3", i, r.Len())
		}
	}
	if got := restartsOf(r.Samples()); !slices.Equal(got, []int{6, 7, 8}) {
		t.Errorf("after 8 samples: %v, want the last three oldest first [6 7 8]", got)
	}
	// Samples is a copy: changing it leaves the ring as it was.
	s := r.Samples()
	s[0].Restarts = 99
	if got := restartsOf(r.Samples()); !slices.Equal(got, []int{6, 7, 8}) {
		t.Errorf("the ring changed with its copy: %v", got)
	}
}

func TestCapacityCoversAnHour(t *testing.T) {
	for _, c := range []struct {
		interval time.Duration
		want     int
	}{{5 * time.Second, 720}, {time.Second, 3600}, {5 * time.Minute, 12}, {0, 720}, {2 * time.Hour, 1}} {
		if got := Capacity(c.interval); got != c.want {
			t.Errorf("Capacity(%s) = %d, want %d", c.interval, got, c.want)
		}
	}
}

func TestBucketsStayWithinASixteenth(t *testing.T) {
	for v := uint64(1); v < 1<<maxExp; v = v*5/4 + 1 {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		mid := bucketMiddle(i)
		if diff := max(mid, v) - min(mid, v); diff*16 > v {
			t.Errorf("%d ns lands in bucket %d, whose middle %d is more than 1/16 away", v, i, mid)
		}
	}
	if got := bucketOf(1 << 62); got != numBuckets-1 {
		t.Errorf("a call of 2^62 ns lands in bucket %d, want the last, %d", got, numBuckets-1)
	}
	if got := bucketOf(0); got != 0 {
		t.Errorf("bucketOf(0) = %d, want 0", got)
	}
}

func TestLatencyQuantilesAndReset(t *testing.T) {
	var l Latency
	for i := 1; i <= 100; i++ {
		l.Record(time.Duration(i)*time.Millisecond, i%10 == 0)
	}
	got := l.Take()
	if got.Calls != 100 || got.Errors != 10 {
		t.Errorf("calls %d, errors %d; want 100 and 10", got.Calls, got.Errors)
	}
	if got.Mean != 50500*time.Microsecond {
		t.Errorf("mean %s, want 50.5ms", got.Mean)
	}
	near := func(what string, d, want time.Duration) {
		if diff := max(d, want) - min(d, want); diff*16 > want {
			t.Errorf("%s %s, want within 1/16 of %s", what, d, want)
		}
	}
	near("p50", got.P50, 50*time.Millisecond)
	near("p99", got.P99, 99*time.Millisecond)

	// Take starts a new interval.
	if again := l.Take(); again != (LatencyStats{}) {
		t.Errorf("second Take = %+v; want nothing recorded", again)
	}
	l.Record(3*time.Millisecond, false)
	if one := l.Take(); one.Calls != 1 || one.P50 != one.P99 || one.Errors != 0 {
		t.Errorf("one call: %+v; want 1 call with p50 = p99", one)
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	var l Latency
	if n := testing.AllocsPerRun(1000, func() { l.Record(1234*time.Microsecond, false) }); n != 0 {
		t.Errorf("Record allocates %v times per call; want 0", n)
	}
	icpt := l.UnaryClientInterceptor()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _ = icpt(ctx, "/m", nil, nil, nil, invoker) }); n != 0 {
		t.Errorf("the interceptor allocates %v times per call; want 0", n)
	}
}

func TestInterceptorRecordsCallsAndErrors(t *testing.T) {
	var l Latency
	icpt := l.UnaryClientInterceptor()
	boom := errors.New("boom")
	ok := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	fail := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return boom }
	_ = icpt(context.Background(), "/m", nil, nil, nil, ok)
	if err := icpt(context.Background(), "/m", nil, nil, nil, fail); !errors.Is(err, boom) {
		t.Errorf("the interceptor returned %v, want the call's error", err)
	}
	if got := l.Take(); got.Calls != 2 || got.Errors != 1 {
		t.Errorf("%+v; want 2 calls, 1 error", got)
	}
}

func TestReadProcessOfThisTest(t *testing.T) {
	if runtime.GOOS != "linux" {
		if p := ReadProcess(os.Getpid()); p.OK {
			t.Errorf("ReadProcess on %s = %+v; want not OK (only Linux has /proc)", runtime.GOOS, p)
		}
		return
	}
	// CPU time counts in ticks (10 ms): work until one is counted.
	var p Process
	sink := 0
	sdktest.WaitFor(t, 30*time.Second, "this process to have used some CPU", func() bool {
		for i := range 1_000_000 {
			sink += i
		}
		p = ReadProcess(os.Getpid())
		return p.CPUSeconds > 0
	})
	_ = sink
	if !p.OK || p.RSSBytes == 0 {
		t.Errorf("ReadProcess(self) = %+v; want OK with resident memory", p)
	}
	for _, pid := range []int{0, -1} {
		if p := ReadProcess(pid); p.OK {
			t.Errorf("ReadProcess(%d) = %+v; want not OK", pid, p)
		}
	}
}

func TestColumnsForCharts(t *testing.T) {
	proc := func(rss uint64, cpu float64) Process { return Process{OK: true, RSSBytes: rss, CPUSeconds: cpu} }
	samples := []Sample{
		{Time: t0, State: "running", Health: "ok", PID: 10, Process: proc(1000, 1.0),
			Latency: LatencyStats{Calls: 4, Errors: 1, Mean: 2 * time.Millisecond, P50: 1500 * time.Microsecond, P99: 5 * time.Millisecond}},
		{Time: t0.Add(5 * time.Second), State: "running", Health: "degraded", PID: 10, Process: proc(2000, 1.5)},
		{Time: t0.Add(10 * time.Second), State: "restarting", Health: "unknown", Restarts: 1},
		{Time: t0.Add(15 * time.Second), State: "running", Health: "ok", Restarts: 1, PID: 11, Process: proc(3000, 0.2)},
		{Time: t0.Add(20 * time.Second), State: "running", Health: "ok", Restarts: 1, PID: 11, Process: proc(3000, 0.3)},
	}
	s := Columns("pa", 5*time.Second, 720, samples, 0)
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	base := float64(t0.Unix())
	want := map[string]any{
		"plugin": "pa", "interval_seconds": 5.0, "window_seconds": 3600.0, "capacity": 720.0,
		"time":            []any{base, base + 5, base + 10, base + 15, base + 20},
		"state":           []any{"running", "running", "restarting", "running", "running"},
		"health":          []any{"ok", "degraded", "unknown", "ok", "ok"},
		"restarts":        []any{0.0, 0.0, 1.0, 1.0, 1.0},
		"rss_bytes":       []any{1000.0, 2000.0, nil, 3000.0, 3000.0},
		"cpu_percent":     []any{nil, 10.0, nil, nil, 2.0}, // none for a process's first sample
		"calls":           []any{4.0, 0.0, 0.0, 0.0, 0.0},
		"errors":          []any{1.0, 0.0, 0.0, 0.0, 0.0},
		"latency_mean_ms": []any{2.0, nil, nil, nil, nil},
		"latency_p50_ms":  []any{1.5, nil, nil, nil, nil},
		"latency_p99_ms":  []any{5.0, nil, nil, nil, nil},
	}
	for k, w := range want {
		if gb, wb := mustJSON(t, got[k]), mustJSON(t, w); gb != wb {
			t.Errorf("%s = %s, want %s", k, gb, wb)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected field %q", k)
		}
	}
	// An empty history is empty arrays, not nulls: a chart gets columns.
	raw, _ = json.Marshal(Columns("pa", time.Second, 3600, nil, 0))
	var empty map[string]any
	_ = json.Unmarshal(raw, &empty)
	if arr, ok := empty["time"].([]any); !ok || len(arr) != 0 {
		t.Errorf("empty history's time = %#v, want []", empty["time"])
	}
}

// TestColumnsSince keeps only the samples after a time, and still gives
// the first of them its CPU use from the sample before.
func TestColumnsSince(t *testing.T) {
	proc := func(cpu float64) Process { return Process{OK: true, RSSBytes: 1, CPUSeconds: cpu} }
	var samples []Sample
	for i := range 4 {
		samples = append(samples, Sample{Time: t0.Add(time.Duration(i) * 5 * time.Second), PID: 7, Process: proc(float64(i))})
	}
	s := Columns("pa", 5*time.Second, 720, samples, t0.Add(5*time.Second).UnixMilli())
	if want := []float64{float64(t0.Unix() + 10), float64(t0.Unix() + 15)}; !slices.Equal(s.Time, want) {
		t.Errorf("time = %v, want the samples after the second: %v", s.Time, want)
	}
	if len(s.CPUPercent) != 2 || s.CPUPercent[0] == nil || *s.CPUPercent[0] != 20 {
		t.Errorf("cpu_percent = %v; want the first kept sample's use since the one before (20%%)", s.CPUPercent)
	}
	if s := Columns("pa", 5*time.Second, 720, samples, t0.Add(time.Hour).UnixMilli()); len(s.Time) != 0 || s.State == nil {
		t.Errorf("since after the last sample: %d samples (state %#v); want empty arrays", len(s.Time), s.State)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkRecordLatency is what the history adds to every call the host
// makes to a plugin: one Record (on top of the host's Prometheus metrics,
// metrics.BenchmarkUnaryClientInterceptor). It must not allocate.
func BenchmarkRecordLatency(b *testing.B) {
	var l Latency
	b.ReportAllocs()
	d := 1234 * time.Microsecond
	for b.Loop() {
		l.Record(d, false)
	}
}

// BenchmarkRecordLatencyParallel is Record from every core at once, as
// concurrent calls to one plugin do.
func BenchmarkRecordLatencyParallel(b *testing.B) {
	var l Latency
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 1234 * time.Microsecond
		for pb.Next() {
			l.Record(d, false)
		}
	})
}

// BenchmarkLatencyInterceptor is the interceptor around a call that does
// nothing: Record plus reading the clock twice.
func BenchmarkLatencyInterceptor(b *testing.B) {
	var l Latency
	icpt := l.UnaryClientInterceptor()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = icpt(ctx, "/mikrobill.payment.v1.PaymentService/CreatePayment", nil, nil, nil, invoker)
	}
}

// BenchmarkTake is one sample's read of the recorder.
func BenchmarkTake(b *testing.B) {
	var l Latency
	b.ReportAllocs()
	for b.Loop() {
		l.Record(time.Millisecond, false)
		_ = l.Take()
	}
}
