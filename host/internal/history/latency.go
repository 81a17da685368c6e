package history

import (
	"context"
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
)

// The latency histogram: durations in nanoseconds, eight buckets per power
// of two (a bucket's middle is within 1/16 of any duration in it), from
// 0 ns up to 2^40 ns (about 18 minutes); longer calls land in the last
// bucket.
const (
	subBits    = 3
	subBuckets = 1 << subBits
	maxExp     = 40
	numBuckets = (maxExp-subBits+1)*subBuckets + subBuckets
)

// Latency records the duration of calls to one plugin, from any number of
// goroutines at once, without locks or allocations: a fixed histogram of
// atomic counters. Take reads what was recorded since the last Take and
// starts over, so each sample describes its own interval. The zero value
// is ready to use.
type Latency struct {
	buckets [numBuckets]atomic.Uint64
	sumNS   atomic.Uint64
	errors  atomic.Uint64
}

// LatencyStats describes the calls of one interval.
type LatencyStats struct {
	// Calls counts the calls that ended in the interval; Errors those of
	// them that failed.
	Calls, Errors uint64
	// Mean, P50 and P99 are zero when there were no calls. The quantiles
	// are the middle of their histogram bucket: within 1/16 of the true
	// value.
	Mean, P50, P99 time.Duration
}

// Record adds one call that took d; failed says it returned an error.
func (l *Latency) Record(d time.Duration, failed bool) {
	ns := uint64(max(d, 0))
	l.buckets[bucketOf(ns)].Add(1)
	l.sumNS.Add(ns)
	if failed {
		l.errors.Add(1)
	}
}

// Take returns the calls recorded since the last Take and forgets them. A
// call recorded while Take runs counts in this interval or the next.
func (l *Latency) Take() LatencyStats {
	var counts [numBuckets]uint64
	var n uint64
	for i := range l.buckets {
		counts[i] = l.buckets[i].Swap(0)
		n += counts[i]
	}
	sum, errs := l.sumNS.Swap(0), l.errors.Swap(0)
	if n == 0 {
		return LatencyStats{}
	}
	return LatencyStats{
		Calls: n, Errors: min(errs, n),
		Mean: time.Duration(sum / n),
		P50:  quantile(&counts, n, 0.50),
		P99:  quantile(&counts, n, 0.99),
	}
}

// UnaryClientInterceptor records every unary call made over the connection
// it is installed on.
func (l *Latency) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		l.Record(time.Since(start), err != nil)
		return err
	}
}

// bucketOf is the bucket of a duration in nanoseconds: below 8 ns one
// bucket each; above, the power of two and the next three bits.
func bucketOf(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	exp := bits.Len64(ns) - 1
	if exp > maxExp {
		return numBuckets - 1
	}
	mant := (ns >> (exp - subBits)) & (subBuckets - 1)
	return (exp-subBits+1)*subBuckets + int(mant)
}

// bucketMiddle is the middle of bucket i, in nanoseconds.
func bucketMiddle(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets + subBits - 1
	mant := uint64(i % subBuckets)
	width := uint64(1) << (exp - subBits)
	return (subBuckets+mant)*width + width/2
}

// quantile is the middle of the bucket that holds the q-th of n calls.
func quantile(counts *[numBuckets]uint64, n uint64, q float64) time.Duration {
	rank := max(uint64(math.Ceil(q*float64(n))), 1) // the rank-th smallest call, 1-based
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketMiddle(i))
		}
	}
	return time.Duration(bucketMiddle(numBuckets - 1))
}
