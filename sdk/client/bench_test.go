package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/mikrobill/mikrobill/sdk"
	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
	"github.com/mikrobill/mikrobill/sdk/internal/wire"
)

// The benchmarks here print ratios measured in one run, ours against a
// baseline, interleaving the two so that a noisy machine affects both alike.
// `make bench` runs them; docs/BENCHMARKS.md records the figures.
//
// MIKROBILL_BENCH_ROUND (default 1s) is the length of one measuring round;
// MIKROBILL_BENCH_ROUNDS (default 3) how many rounds each side gets.

func benchRound() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MIKROBILL_BENCH_ROUND")); err == nil && d > 0 {
		return d
	}
	return time.Second
}

func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("MIKROBILL_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// buildBench builds a bench plugin from testdata.
func buildBench(b *testing.B, name string) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "./testdata/"+name)
	if raw, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", name, err, raw)
	}
	return out
}

// barePlugin is the host side of a plain go-plugin gRPC plugin.
type barePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (barePlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("client only")
}
func (barePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return cc, nil
}

// startBare launches the bare plugin the way a stock go-plugin host does:
// AutoMTLS, default dial options. It returns the generated client.
func startBare(b *testing.B, path string) (pluginv1.PluginServiceClient, func()) {
	b.Helper()
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{"bare": barePlugin{}},
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
	})
	cp, err := pc.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := cp.Dispense("bare")
	if err != nil {
		b.Fatal(err)
	}
	c := pluginv1.NewPluginServiceClient(raw.(*grpc.ClientConn))
	if _, err := c.Describe(context.Background(), &pluginv1.DescribeRequest{}); err != nil {
		b.Fatal(err)
	}
	return c, pc.Kill
}

// startOurs launches the SDK plugin with this package's launcher and returns
// the host's client adapter over a Switch, as the host uses it.
func startOurs(b *testing.B, path string, noTLS bool) (Plugin, *Process) {
	b.Helper()
	proc, err := Start(context.Background(), Config{
		Name: "benchplugin", Path: path, SocketDir: b.TempDir(), InsecureNoTLS: noTLS,
		Env: []string{"PATH=" + os.Getenv("PATH")},
	})
	if err != nil {
		b.Fatal(err)
	}
	sw := NewSwitch("benchplugin", 5*time.Second)
	sw.Up(proc)
	return NewPlugin(sw, sw.HostBroker), proc
}

type measured struct {
	p50    time.Duration
	perSec float64
}

// sampler pools the latencies and busy time of one side over many slices.
type sampler struct {
	lat  []time.Duration
	busy time.Duration
}

func (s *sampler) result() measured {
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	return measured{p50: s.lat[len(s.lat)/2], perSec: float64(len(s.lat)) / s.busy.Seconds()}
}

// slice runs call from callers goroutines for d and adds the latencies and
// the elapsed time to s.
func (s *sampler) slice(callers int, d time.Duration, call func() error) error {
	lat := make([][]time.Duration, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	begin := time.Now()
	stop := begin.Add(d)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 1024)
			for time.Now().Before(stop) {
				t := time.Now()
				if err := call(); err != nil {
					errs[i] = err
					return
				}
				l = append(l, time.Since(t))
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	s.busy += time.Since(begin)
	for i := range callers {
		if errs[i] != nil {
			return errs[i]
		}
		s.lat = append(s.lat, lat[i]...)
	}
	return nil
}

// compare alternates bare and ours in short slices (so the machine's drift
// hits both alike) until each has had total time, and returns both.
func compare(callers int, total time.Duration, bare, ours func() error) (measured, measured, error) {
	const sliceLen = 100 * time.Millisecond
	var b, o sampler
	for i := 0; b.busy < total || o.busy < total; i++ {
		first, second := &b, &o
		fc, sc := bare, ours
		if i%2 == 1 {
			first, second, fc, sc = &o, &b, ours, bare
		}
		if err := first.slice(callers, sliceLen, fc); err != nil {
			return measured{}, measured{}, err
		}
		if err := second.slice(callers, sliceLen, sc); err != nil {
			return measured{}, measured{}, err
		}
	}
	if len(b.lat) == 0 || len(o.lat) == 0 {
		return measured{}, measured{}, errors.New("no calls completed")
	}
	return b.result(), o.result(), nil
}

func medianDur(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func medianF(fs []float64) float64 {
	s := append([]float64(nil), fs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkCallRatio compares one small RPC (HandleHTTP echoing its body)
// through the host's client adapter (sdk types, converters, the restart
// Switch, tuned windows, P-256 mutual TLS) against the same RPC through a
// bare go-plugin client (generated types, stock settings, AutoMTLS).
func BenchmarkCallRatio(b *testing.B) {
	oursPath, barePath := buildBench(b, "benchplugin"), buildBench(b, "bareplugin")
	ours, proc := startOurs(b, oursPath, false)
	defer proc.Kill()
	bare, killBare := startBare(b, barePath)
	defer killBare()
	round, rounds := benchRound(), benchRounds()
	ctx := context.Background()

	total := round * time.Duration(rounds)
	fmt.Printf("\n(a) call through the host's client adapter vs bare go-plugin, %s each, alternating in 100ms slices\n", total)
	fmt.Printf("%-8s %-8s %10s %10s %9s %12s %12s %10s\n", "payload", "callers", "bare p50", "ours p50", "p50 x", "bare/s", "ours/s", "thru x")
	for range b.N {
		for _, size := range []int{64, 64 << 10} {
			body := make([]byte, size)
			for _, callers := range []int{1, 16} {
				bareCall := func() error {
					_, err := bare.HandleHttp(ctx, &pluginv1.HandleHttpRequest{Request: &pluginv1.HttpRequest{Method: "POST", Path: "/echo", Body: body}})
					return err
				}
				oursCall := func() error {
					_, err := ours.HandleHTTP(ctx, &sdk.HandleHTTPRequest{Request: sdk.HTTPRequest{Method: "POST", Path: "/echo", Body: body}})
					return err
				}
				// Warm both connections up.
				if _, _, err := compare(callers, 200*time.Millisecond, bareCall, oursCall); err != nil {
					b.Fatal(err)
				}
				bm, om, err := compare(callers, total, bareCall, oursCall)
				if err != nil {
					b.Fatal(err)
				}
				size := fmt.Sprintf("%dB", len(body))
				if len(body) >= 1024 {
					size = fmt.Sprintf("%dKiB", len(body)>>10)
				}
				fmt.Printf("%-8s %-8d %10s %10s %8.3fx %12.0f %12.0f %9.3fx\n", size, callers,
					bm.p50.Round(time.Microsecond), om.p50.Round(time.Microsecond), float64(om.p50)/float64(bm.p50), bm.perSec, om.perSec, om.perSec/bm.perSec)
				label := fmt.Sprintf("%s-%d", size, callers)
				b.ReportMetric(float64(om.p50)/float64(bm.p50), "p50-x/"+label)
				b.ReportMetric(om.perSec/bm.perSec, "thru-x/"+label)
			}
		}
	}
}

// BenchmarkLaunchRatio compares a launch (exec to a served Describe) with
// our mutual TLS against one without TLS, and shows go-plugin's AutoMTLS for
// reference, interleaved.
func BenchmarkLaunchRatio(b *testing.B) {
	oursPath, barePath := buildBench(b, "benchplugin"), buildBench(b, "bareplugin")
	n := 5 * benchRounds()
	for range b.N {
		var tls, plain, auto []time.Duration
		for i := range n {
			kinds := []string{"tls", "plain", "auto"}
			if i%2 == 1 {
				kinds = []string{"plain", "auto", "tls"}
			}
			for _, k := range kinds {
				begin := time.Now()
				switch k {
				case "tls", "plain":
					_, proc := startOurs(b, oursPath, k == "plain")
					d := time.Since(begin)
					proc.Kill()
					if k == "tls" {
						tls = append(tls, d)
					} else {
						plain = append(plain, d)
					}
				case "auto":
					_, kill := startBare(b, barePath)
					auto = append(auto, time.Since(begin))
					kill()
				}
			}
		}
		t, p, a := medianDur(tls), medianDur(plain), medianDur(auto)
		fmt.Printf("\n(b) launch to a served Describe, median of %d launches each\n", n)
		fmt.Printf("    without TLS %s, our P-256 mutual TLS %s: %.2fx (target at most 1.5x); go-plugin AutoMTLS (P-521) %s: %.2fx\n",
			p.Round(time.Microsecond*100), t.Round(time.Microsecond*100), float64(t)/float64(p), a.Round(time.Microsecond*100), float64(a)/float64(p))
		b.ReportMetric(float64(t)/float64(p), "tls-x")
		b.ReportMetric(float64(a)/float64(p), "automtls-x")
		b.ReportMetric(float64(t.Microseconds())/1000, "tls-ms")
		b.ReportMetric(float64(p.Microseconds())/1000, "plain-ms")
	}
}
