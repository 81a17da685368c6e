package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/plugins/whatsapp/internal/wa/fake"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// BenchmarkDrainRateRatio drains 1,000 messages over 5 sessions with a
// 20 ms delay and 10% jitter on the fake WhatsApp, and reports the ratio of
// the expected spacing of each session's messages (the delay plus the mean
// jitter) to the measured one. It fails outside 5%.
func BenchmarkDrainRateRatio(b *testing.B) {
	const (
		total    = 1000
		sessions = 5
		delayMS  = 20
		jitter   = 10
	)
	for range b.N {
		fb := fake.New(fake.Options{AutoReceipt: true})
		p := startPlugin(b, fb, "", map[string]any{"message_delay_ms": delayMS, "jitter_percent": jitter})
		ctx := context.Background()
		// Queue everything first (no session yet: queued, and Send says
		// so), then pair the sessions: the drain runs on a full queue.
		for i := range total {
			_, err := p.Send(ctx, text(fmt.Sprintf("k-%04d", i), "+6281234567890"))
			if err != nil && !errors.Is(err, notify.ErrSessionNotConnected) {
				b.Fatal(err)
			}
		}
		// The baseline, in the same run: 5 goroutines that only keep the
		// same schedule (timers, the same jitter and floor), no queue, no
		// WhatsApp. Its ratio is what this machine's timers allow now.
		base := scheduleOnly(sessions, total/sessions, delayMS*time.Millisecond, jitter)
		expected := time.Duration(float64(delayMS*time.Millisecond) * (1 + jitter/100.0/2))
		b.ResetTimer()
		ids := make([]string, sessions)
		for i := range ids {
			ids[i] = fmt.Sprintf("s%d", i+1)
		}
		pairByScan(b, p, fb, ids...)
		sdktest.WaitFor(b, 2*time.Minute, "the queue drained", func() bool { return len(fb.Sent()) == total })
		b.StopTimer()

		bySession := map[string][]time.Time{}
		for _, s := range fb.Sent() {
			bySession[s.Session] = append(bySession[s.Session], s.Time)
		}
		var gaps time.Duration
		var n int
		minGap := time.Hour
		for id, ts := range bySession {
			if len(ts) < 2 {
				b.Fatalf("session %s sent %d messages", id, len(ts))
			}
			gaps += ts[len(ts)-1].Sub(ts[0])
			n += len(ts) - 1
			for i := 1; i < len(ts); i++ {
				minGap = min(minGap, ts[i].Sub(ts[i-1]))
			}
		}
		// The floor: two messages of a session never closer than the
		// delay (less the time between taking the slot and the send).
		b.ReportMetric(float64(minGap.Microseconds())/1000, "ms/min-gap")
		actual := gaps / time.Duration(n)
		ratio := float64(expected) / float64(actual)
		b.ReportMetric(ratio, "expected/actual")
		b.ReportMetric(float64(expected)/float64(base), "baseline-expected/actual")
		b.ReportMetric(float64(actual.Microseconds())/1000, "ms/spacing")
		if ratio < 0.95 || ratio > 1.05 {
			b.Fatalf("spacing %v per session, expected %v: ratio %.3f is outside 5%% (the baseline's spacing on this machine now: %v)", actual, expected, ratio, base)
		}
		shutdown(b, p)
	}
}

// scheduleOnly runs n goroutines that each take count slots on the
// sender's schedule (spacing = delay plus up to jitter percent, never less
// than delay after the previous wake) and do nothing else; it returns the
// mean spacing.
func scheduleOnly(n, count int, delay time.Duration, jitter int) time.Duration {
	var wg sync.WaitGroup
	total := make([]time.Duration, n)
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := time.Now()
			next := first
			for range count - 1 {
				spacing := delay + time.Duration(float64(delay)*float64(jitter)/100*rand.Float64())
				next = next.Add(spacing)
				if floor := time.Now().Add(delay); next.Before(floor) {
					next = floor
				}
				time.Sleep(time.Until(next))
			}
			total[g] = time.Since(first)
		}()
	}
	wg.Wait()
	var sum time.Duration
	for _, t := range total {
		sum += t
	}
	return sum / time.Duration(n*(count-1))
}

// BenchmarkIdleRSSRealBuild reports the resident memory of the default
// build (whatsmeow, its SQLite device store open) configured with no
// session: pairing one would reach WhatsApp, which nothing here may.
func BenchmarkIdleRSSRealBuild(b *testing.B) {
	exe := buildPlugin(b, "")
	for range b.N {
		dataDir := b.TempDir()
		p := launchWafake(b, exe, dataDir)
		p.configure(b, dataDir, map[string]any{})
		time.Sleep(2 * time.Second)
		b.ReportMetric(vmRSS(b, p.proc.Pid()), "MiB-RSS")
		p.proc.Kill()
	}
}

// BenchmarkIdleRSS runs the wafake plugin process with 5 paired, idle
// sessions and reports its resident memory, against the same process
// served but not yet configured (the SDK's floor) and the 40 MiB target.
func BenchmarkIdleRSS(b *testing.B) {
	exe := buildWafake(b)
	for range b.N {
		dataDir := b.TempDir()
		p := launchWafake(b, exe, dataDir)
		time.Sleep(time.Second)
		floor := vmRSS(b, p.proc.Pid())
		p.configure(b, dataDir, map[string]any{})
		ctx := context.Background()
		for i := range 5 {
			if _, err := p.n.StartPairing(ctx, &notify.StartPairingRequest{SessionID: fmt.Sprintf("s%d", i+1)}); err != nil {
				b.Fatal(err)
			}
		}
		waitConnected(b, p.n, 5)
		time.Sleep(2 * time.Second) // idle
		rss := vmRSS(b, p.proc.Pid())
		b.ReportMetric(rss, "MiB-RSS")
		b.ReportMetric(floor, "MiB-RSS-unconfigured")
		b.ReportMetric(rss/floor, "RSS/unconfigured")
		b.ReportMetric(rss/40, "of-40MiB-target")
		if rss > 40 {
			b.Errorf("RSS with 5 idle sessions is %.1f MiB, over the 40 MiB target", rss)
		}
		p.proc.Kill()
	}
}

// vmRSS is a process's resident memory in MiB (Linux).
func vmRSS(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
