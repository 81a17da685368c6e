package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// bundled lists the repository's plugins (plugins/<name>/plugin.json).
func bundled(b *testing.B) []string {
	b.Helper()
	matches, err := filepath.Glob("../../../plugins/*/plugin.json")
	if err != nil || len(matches) == 0 {
		b.Fatalf("no bundled plugins found: %v", err)
	}
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	sort.Strings(names)
	return names
}

// timeToReady starts the real mikrobill binary on a plugin directory and
// a data directory and returns how long it took from exec to /ready
// answering 200, the resident memory of the host and of each plugin once
// ready, and the CPU time each process had used by then (cpuTime).
func timeToReady(b *testing.B, bin, pluginDir, data string) (time.Duration, map[string]int64, map[string]time.Duration) {
	b.Helper()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--plugin-dir", pluginDir, "--data-dir", data)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr, _ := cmd.StderrPipe()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(30 * time.Second):
		b.Fatal("mikrobill did not serve")
	}
	for {
		resp, err := http.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(begin) > 30*time.Second {
			b.Fatal("not ready within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(begin)
	rss := map[string]int64{"host": residentKB(cmd.Process.Pid)}
	cpu := map[string]time.Duration{"host": cpuTime(cmd.Process.Pid)}
	resp, err := http.Get("http://" + addr + "/health/plugins")
	if err == nil {
		var body pluginsBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		for _, p := range body.Plugins {
			if p.PID > 0 {
				rss[p.Name] = residentKB(p.PID)
				cpu[p.Name] = cpuTime(p.PID)
			}
		}
	}
	return took, rss, cpu
}

// cpuTime is the CPU time a process's threads have run, user and system
// (/proc/PID/task/*/schedstat, nanoseconds; a thread that has exited is
// not counted: Go's threads rarely exit).
func cpuTime(pid int) time.Duration {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	var sum time.Duration
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(raw)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// residentKB reads VmRSS from /proc.
func residentKB(pid int) int64 { return procStatusKB(pid, "VmRSS:") }

// BenchmarkReadyRatio starts the host with every bundled plugin and
// measures exec to /ready against the slowest single plugin's exec to
// /ready (interleaved, medians), then reports resident memory. Each start
// is measured twice: on a fresh data directory (ready-x, the first start:
// every executable is hashed) and again on the same one (restart-x: the
// host remembers the executables it hashed, plugins.sumCache).
func BenchmarkReadyRatio(b *testing.B) {
	bin := testenv.Build(b, "host/cmd/mikrobill")
	names := bundled(b)
	all := testenv.NewPluginDir(b)
	single := map[string]*testenv.PluginDir{}
	for _, n := range names {
		all.AddBundled(n)
		d := testenv.NewPluginDir(b)
		d.AddBundled(n)
		single[n] = d
	}
	const n = 7
	for range b.N {
		var allTimes, allAgain []time.Duration
		singleTimes, singleAgain := map[string][]time.Duration{}, map[string][]time.Duration{}
		var rss map[string]int64
		// CPU time until ready, per start (prefix "" for the start with
		// every plugin, the plugin's name for a single one) and process.
		allCPU, allCPUAgain := map[string][]time.Duration{}, map[string][]time.Duration{}
		singleCPU, singleCPUAgain := map[string][]time.Duration{}, map[string][]time.Duration{}
		for range n {
			for _, name := range names {
				data := b.TempDir()
				d, _, cpu := timeToReady(b, bin, single[name].Dir, data)
				singleTimes[name] = append(singleTimes[name], d)
				addCPU(singleCPU, name, cpu)
				d, _, cpu = timeToReady(b, bin, single[name].Dir, data)
				singleAgain[name] = append(singleAgain[name], d)
				addCPU(singleCPUAgain, name, cpu)
			}
			data := b.TempDir()
			d, _, cpu := timeToReady(b, bin, all.Dir, data)
			allTimes = append(allTimes, d)
			addCPU(allCPU, "", cpu)
			d, rss, cpu = timeToReady(b, bin, all.Dir, data)
			allAgain = append(allAgain, d)
			addCPU(allCPUAgain, "", cpu)
		}
		ratio := func(what string, all []time.Duration, singles map[string][]time.Duration) float64 {
			slowest, slowestName := time.Duration(0), ""
			for name, ts := range singles {
				if m := medianDuration(ts); m > slowest {
					slowest, slowestName = m, name
				}
			}
			a := medianDuration(all)
			fmt.Printf("\n(d) %s, all %d bundled plugins (%s): exec to /ready %s; slowest single (%s) %s: %.2fx (target at most 1.3x), median of %d\n",
				what, len(names), strings.Join(names, ", "), a.Round(100*time.Microsecond), slowestName, slowest.Round(100*time.Microsecond), float64(a)/float64(slowest), n)
			return float64(a) / float64(slowest)
		}
		first := ratio("first start (fresh data directory)", allTimes, singleTimes)
		printCPU(allCPU, singleCPU)
		again := ratio("started again (same data directory)", allAgain, singleAgain)
		printCPU(allCPUAgain, singleCPUAgain)
		fmt.Printf("(e) resident memory once ready:")
		keys := make([]string, 0, len(rss))
		for k := range rss {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf(" %s %.1f MiB;", k, float64(rss[k])/1024)
			b.ReportMetric(float64(rss[k])/1024, "rss-MiB/"+k)
		}
		fmt.Println()
		b.ReportMetric(first, "ready-x")
		b.ReportMetric(again, "restart-x")
	}
}

// addCPU appends one start's CPU times to into, keyed by prefix and
// process ("host" and each plugin's name).
func addCPU(into map[string][]time.Duration, prefix string, cpu map[string]time.Duration) {
	for proc, d := range cpu {
		into[prefix+"/"+proc] = append(into[prefix+"/"+proc], d)
	}
}

// printCPU prints the median CPU time until ready of each process, with
// every plugin and with each plugin alone: what the start asks of the
// machine's cores, which bounds the ratio when they are busy.
func printCPU(all, single map[string][]time.Duration) {
	line := func(what string, m map[string][]time.Duration, prefix string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			if strings.HasPrefix(k, prefix+"/") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var sum time.Duration
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			d := medianDuration(m[k])
			sum += d
			parts = append(parts, fmt.Sprintf("%s %.1f", strings.TrimPrefix(k, prefix+"/"), float64(d)/1e6))
		}
		fmt.Printf("    CPU until ready, %s: %.0f ms (%s ms)\n", what, float64(sum)/1e6, strings.Join(parts, ", "))
	}
	line("all plugins", all, "")
	var names []string
	for k := range single {
		if name, _, _ := strings.Cut(k, "/"); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		line(name+" alone", single, name)
	}
}

func medianDuration(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
