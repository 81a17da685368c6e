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

// bundled lists the plugins `make build` ships (plugins/<name>/plugin.json
// but payment-template, a starting point for integrators that the Makefile
// leaves out of bin/plugins).
func bundled(b *testing.B) []string {
	b.Helper()
	matches, err := filepath.Glob("../../../plugins/*/plugin.json")
	if err != nil || len(matches) == 0 {
		b.Fatalf("no bundled plugins found: %v", err)
	}
	var names []string
	for _, m := range matches {
		if name := filepath.Base(filepath.Dir(m)); name != "payment-template" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// timeToReady starts the real mikrobill binary on a plugin directory and
// a data directory and returns how long it took from exec to /ready
// answering 200, the resident memory of the host and of each plugin once
// ready, and the CPU time (cpuTime) and page faults (pageFaults) each
// process had by then.
func timeToReady(b *testing.B, bin, pluginDir, data string) (time.Duration, map[string]int64, map[string]time.Duration, map[string]int64) {
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
	faults := map[string]int64{"host": pageFaults(cmd.Process.Pid)}
	resp, err := http.Get("http://" + addr + "/health/plugins")
	if err == nil {
		var body pluginsBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		for _, p := range body.Plugins {
			if p.PID > 0 {
				rss[p.Name] = residentKB(p.PID)
				cpu[p.Name] = cpuTime(p.PID)
				faults[p.Name] = pageFaults(p.PID)
			}
		}
	}
	return took, rss, cpu, faults
}

// pageFaults is how many page faults a process has taken, minor and major
// (/proc/PID/stat). On a virtual machine each costs far more than on bare
// metal (about 10 to 25 µs where this benchmark was written), so they are
// a large part of what a process's start costs there.
func pageFaults(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count the
	// fields after its closing parenthesis (state is field 3, minflt 10,
	// majflt 12).
	_, rest, _ := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if len(f) < 10 {
		return 0
	}
	minflt, _ := strconv.ParseInt(f[7], 10, 64)
	majflt, _ := strconv.ParseInt(f[9], 10, 64)
	return minflt + majflt
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
//
// MIKROBILL_BENCH_BASELINE=<git revision> measures the host and plugins
// built at that revision too, as its `make build` built them, interleaved
// round by round with this build (each first every other round),
// reporting base-ready-x and base-restart-x. Both start the plugins that `make build` ships.
func BenchmarkReadyRatio(b *testing.B) {
	names := bundled(b)
	var builds []*readyBuild
	if rev := os.Getenv("MIKROBILL_BENCH_BASELINE"); rev != "" {
		base := baselineReadyBuild(b, rev)
		names = slices.DeleteFunc(names, func(n string) bool { return base.single[n] == "" })
		builds = append(builds, base)
	}
	builds = append(builds, currentReadyBuild(b, names))
	const n = 7
	for range b.N {
		rounds := make([]*readyRounds, len(builds))
		for i := range builds {
			rounds[i] = newReadyRounds()
		}
		// Every other round the other build goes first: measured in
		// one order, the same code built twice was 35 to 48 ms apart
		// with every plugin (docs/BENCHMARKS.md, "/ready").
		for k := range n {
			for j := range builds {
				i := j
				if k%2 == 1 {
					i = len(builds) - 1 - j
				}
				rounds[i].add(b, builds[i], names)
			}
		}
		for i, build := range builds {
			prefix := ""
			if i < len(builds)-1 {
				prefix = "base-"
			}
			rounds[i].report(b, build.name, prefix, names, n)
		}
	}
}

// readyBuild is one build of the host and the plugins that
// BenchmarkReadyRatio starts.
type readyBuild struct {
	name   string            // "this build" or "baseline <revision>"
	bin    string            // the mikrobill executable
	all    string            // a plugin directory with every plugin
	single map[string]string // a plugin directory with only that plugin, by name
}

// currentReadyBuild builds the host and the named bundled plugins from
// this tree, as testenv builds them for every test.
func currentReadyBuild(b *testing.B, names []string) *readyBuild {
	b.Helper()
	rb := &readyBuild{name: "this build", bin: testenv.Build(b, "host/cmd/mikrobill"), single: map[string]string{}}
	all := testenv.NewPluginDir(b)
	for _, n := range names {
		all.AddBundled(n)
		d := testenv.NewPluginDir(b)
		d.AddBundled(n)
		rb.single[n] = d.Dir
	}
	rb.all = all.Dir
	return rb
}

// baselineReadyBuild runs `make build` in a copy of the repository at rev
// and returns its host with its plugin directory (every plugin `make build`
// ships, locked by that host) and, for each plugin, a directory with only
// that plugin, locked by the same host.
func baselineReadyBuild(b *testing.B, rev string) *readyBuild {
	b.Helper()
	src := sourceAt(b, rev)
	mk := exec.Command("make", "build")
	mk.Dir = src
	if msg, err := mk.CombinedOutput(); err != nil {
		b.Fatalf("MIKROBILL_BENCH_BASELINE=%s: make build: %v\n%s", rev, err, msg)
	}
	rb := &readyBuild{name: "baseline " + rev, bin: filepath.Join(src, "bin", "mikrobill"),
		all: filepath.Join(src, "bin", "plugins"), single: map[string]string{}}
	folders, err := os.ReadDir(rb.all)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range folders {
		if !f.IsDir() {
			continue
		}
		dir := filepath.Join(b.TempDir(), "plugins")
		files, err := os.ReadDir(filepath.Join(rb.all, f.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, f.Name()), 0o755); err != nil {
			b.Fatal(err)
		}
		for _, file := range files {
			testenv.CopyFile(b, filepath.Join(rb.all, f.Name(), file.Name()), filepath.Join(dir, f.Name(), file.Name()))
		}
		lock := exec.Command(rb.bin, "plugin", "lock", "--plugin-dir", dir)
		if msg, err := lock.CombinedOutput(); err != nil {
			b.Fatalf("MIKROBILL_BENCH_BASELINE=%s: plugin lock %s: %v\n%s", rev, f.Name(), err, msg)
		}
		rb.single[f.Name()] = dir
	}
	return rb
}

// readyRounds collects the starts of one build: exec to /ready and the CPU
// time until ready of each process (keyed by prefix "" for the start with
// every plugin, the plugin's name for a single one, then "/" and the
// process), first on a fresh data directory and again on the same one.
type readyRounds struct {
	allTimes, allAgain                                         []time.Duration
	singleTimes, singleAgain                                   map[string][]time.Duration
	allCPU, allCPUAgain, singleCPU, singleCPUAgain             map[string][]time.Duration
	allFaults, allFaultsAgain, singleFaults, singleFaultsAgain map[string][]int64
	rss                                                        map[string]int64
}

func newReadyRounds() *readyRounds {
	return &readyRounds{
		singleTimes: map[string][]time.Duration{}, singleAgain: map[string][]time.Duration{},
		allCPU: map[string][]time.Duration{}, allCPUAgain: map[string][]time.Duration{},
		singleCPU: map[string][]time.Duration{}, singleCPUAgain: map[string][]time.Duration{},
		allFaults: map[string][]int64{}, allFaultsAgain: map[string][]int64{},
		singleFaults: map[string][]int64{}, singleFaultsAgain: map[string][]int64{},
	}
}

// add measures one round: each plugin alone, then every plugin, each
// started twice on its data directory.
func (r *readyRounds) add(b *testing.B, build *readyBuild, names []string) {
	for _, name := range names {
		data := b.TempDir()
		d, _, cpu, faults := timeToReady(b, build.bin, build.single[name], data)
		r.singleTimes[name] = append(r.singleTimes[name], d)
		addPerProcess(r.singleCPU, name, cpu)
		addPerProcess(r.singleFaults, name, faults)
		d, _, cpu, faults = timeToReady(b, build.bin, build.single[name], data)
		r.singleAgain[name] = append(r.singleAgain[name], d)
		addPerProcess(r.singleCPUAgain, name, cpu)
		addPerProcess(r.singleFaultsAgain, name, faults)
	}
	data := b.TempDir()
	d, _, cpu, faults := timeToReady(b, build.bin, build.all, data)
	r.allTimes = append(r.allTimes, d)
	addPerProcess(r.allCPU, "", cpu)
	addPerProcess(r.allFaults, "", faults)
	d, r.rss, cpu, faults = timeToReady(b, build.bin, build.all, data)
	r.allAgain = append(r.allAgain, d)
	addPerProcess(r.allCPUAgain, "", cpu)
	addPerProcess(r.allFaultsAgain, "", faults)
}

// report prints the ratios, the CPU until ready and the resident memory of
// one build, and reports them as metrics whose names start with prefix.
func (r *readyRounds) report(b *testing.B, what, prefix string, names []string, n int) {
	ratio := func(start string, all []time.Duration, singles map[string][]time.Duration) float64 {
		slowest, slowestName := time.Duration(0), ""
		for name, ts := range singles {
			if m := medianOf(ts); m > slowest {
				slowest, slowestName = m, name
			}
		}
		a := medianOf(all)
		fmt.Printf("\n(d) %s, %s, all %d bundled plugins (%s): exec to /ready %s; slowest single (%s) %s: %.2fx (target at most 1.3x), median of %d\n",
			what, start, len(names), strings.Join(names, ", "), a.Round(100*time.Microsecond), slowestName, slowest.Round(100*time.Microsecond), float64(a)/float64(slowest), n)
		return float64(a) / float64(slowest)
	}
	first := ratio("first start (fresh data directory)", r.allTimes, r.singleTimes)
	printPerProcess("CPU until ready", " ms", cpuMS, r.allCPU, r.singleCPU)
	printPerProcess("page faults until ready", "", faultCount, r.allFaults, r.singleFaults)
	again := ratio("started again (same data directory)", r.allAgain, r.singleAgain)
	printPerProcess("CPU until ready", " ms", cpuMS, r.allCPUAgain, r.singleCPUAgain)
	printPerProcess("page faults until ready", "", faultCount, r.allFaultsAgain, r.singleFaultsAgain)
	fmt.Printf("(e) %s, resident memory once ready:", what)
	keys := make([]string, 0, len(r.rss))
	for k := range r.rss {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf(" %s %.1f MiB;", k, float64(r.rss[k])/1024)
		b.ReportMetric(float64(r.rss[k])/1024, prefix+"rss-MiB/"+k)
	}
	fmt.Println()
	b.ReportMetric(first, prefix+"ready-x")
	b.ReportMetric(again, prefix+"restart-x")
}

// addPerProcess appends one start's figure of each process (its CPU time
// or its page faults) to into, keyed by prefix and process ("host" and
// each plugin's name).
func addPerProcess[T any](into map[string][]T, prefix string, m map[string]T) {
	for proc, v := range m {
		into[prefix+"/"+proc] = append(into[prefix+"/"+proc], v)
	}
}

func cpuMS(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
func faultCount(n int64) string    { return strconv.FormatInt(n, 10) }

// printPerProcess prints the median figure of each process (what the
// start asked of the machine: its CPU time, which bounds the ratio when
// the cores are busy, and its page faults), with every plugin and with
// each plugin alone, and their sum.
func printPerProcess[T time.Duration | int64](what, unit string, show func(T) string, all, single map[string][]T) {
	line := func(start string, m map[string][]T, prefix string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			if strings.HasPrefix(k, prefix+"/") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var sum T
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			v := medianOf(m[k])
			sum += v
			parts = append(parts, strings.TrimPrefix(k, prefix+"/")+" "+show(v))
		}
		fmt.Printf("    %s, %s: %s%s (%s%s)\n", what, start, show(sum), unit, strings.Join(parts, ", "), unit)
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

func medianOf[T time.Duration | int64](vs []T) T {
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}
