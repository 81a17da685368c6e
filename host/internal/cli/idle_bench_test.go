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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// idleFigures are what an idle host reports: its Go heap and resident
// memory (from its /metrics), the resident memory split into anonymous
// pages and pages of its executable (/proc/PID/status), and each running
// plugin's resident memory.
type idleFigures struct {
	heapAlloc, rss, rssAnon, rssFile float64 // MiB
	plugins                          map[string]float64
}

// BenchmarkIdleHostMemory starts the mikrobill binary as `make run` does
// (a fresh data directory: embedded SQLite, in-memory cache; the bundled
// plugins that make build installs, payment-template excepted), waits for
// /ready, lets it idle (MIKROBILL_BENCH_IDLE, default 30s) and reports the
// host's Go heap (go_memstats_heap_alloc_bytes) and resident memory
// (process_resident_memory_bytes), the host process's only: the plugins
// are processes of their own, reported beside it. The resident memory's
// split, anonymous (heap, stacks, the runtime's) against the pages of the
// executable, is read from /proc/PID/status (RssAnon, RssFile) just before
// /metrics is asked; process_resident_memory_bytes includes what serving
// /metrics maps.
//
// MIKROBILL_BENCH_BASELINE=<git revision> measures the host built at that
// revision too, interleaved, reporting base-* figures (docs/BENCHMARKS.md,
// "Idle host memory"). MIKROBILL_BENCH_PROFILE=<file> writes the idle
// host's heap profile there (serve --pprof-listen).
func BenchmarkIdleHostMemory(b *testing.B) {
	idle := 30 * time.Second
	if v := os.Getenv("MIKROBILL_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			b.Fatalf("MIKROBILL_BENCH_IDLE=%q: want a duration such as 30s", v)
		}
		idle = d
	}
	bin := testenv.Build(b, "host/cmd/mikrobill")
	base := ""
	if rev := os.Getenv("MIKROBILL_BENCH_BASELINE"); rev != "" {
		base = buildAt(b, rev)
	}
	dir := testenv.NewPluginDir(b)
	var names []string
	for _, n := range bundled(b) {
		if n != "payment-template" { // make build leaves it out
			dir.AddBundled(n)
			names = append(names, n)
		}
	}
	for range b.N {
		if base != "" {
			f := idleHost(b, base, dir.Dir, idle, "")
			b.ReportMetric(f.heapAlloc, "base-heap-MiB")
			b.ReportMetric(f.rss, "base-rss-MiB")
			b.ReportMetric(f.rssAnon, "base-rss-anon-MiB")
			b.ReportMetric(f.rssFile, "base-rss-file-MiB")
			printIdle("baseline "+os.Getenv("MIKROBILL_BENCH_BASELINE"), f)
		}
		f := idleHost(b, bin, dir.Dir, idle, os.Getenv("MIKROBILL_BENCH_PROFILE"))
		b.ReportMetric(f.heapAlloc, "heap-MiB")
		b.ReportMetric(f.rss, "rss-MiB")
		b.ReportMetric(f.rssAnon, "rss-anon-MiB")
		b.ReportMetric(f.rssFile, "rss-file-MiB")
		total := 0.0
		for _, v := range f.plugins {
			total += v
		}
		b.ReportMetric(total, "plugins-rss-MiB")
		printIdle("this build", f)
	}
	fmt.Printf("(bundled plugins: %s; idle %s after /ready)\n", strings.Join(names, ", "), idle)
}

func printIdle(what string, f idleFigures) {
	fmt.Printf("\nidle host (%s): heap %.1f MiB, RSS %.1f MiB (anonymous %.1f, executable's pages %.1f); plugins:", what, f.heapAlloc, f.rss, f.rssAnon, f.rssFile)
	keys := make([]string, 0, len(f.plugins))
	for k := range f.plugins {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf(" %s %.1f MiB;", k, f.plugins[k])
	}
	fmt.Println()
}

var pprofRE = regexp.MustCompile(`address=(http://\S+/debug/pprof/)`)

// idleHost runs bin serve on a fresh data directory until it has idled
// for idle after /ready, and returns its figures; with profile set, the
// heap profile (after a GC) is written there.
func idleHost(b *testing.B, bin, pluginDir string, idle time.Duration, profile string) idleFigures {
	b.Helper()
	args := []string{"serve", "--listen", "127.0.0.1:0", "--plugin-dir", pluginDir, "--data-dir", b.TempDir()}
	if profile != "" {
		args = append(args, "--pprof-listen", "127.0.0.1:0")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addrc, pprofc := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := pprofRE.FindStringSubmatch(sc.Text()); m != nil {
				pprofc <- m[1]
			}
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(60 * time.Second):
		b.Fatal("mikrobill did not serve within 60s")
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("not ready within 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(idle)

	// The split first: serving /metrics runs code of its own (the
	// collectors, the plugins' metrics) and maps its pages.
	f := idleFigures{plugins: map[string]float64{}}
	f.rssAnon = float64(procStatusKB(cmd.Process.Pid, "RssAnon:")) / 1024
	f.rssFile = float64(procStatusKB(cmd.Process.Pid, "RssFile:")) / 1024
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_memstats_heap_alloc_bytes":
			f.heapAlloc = metricMiB(b, name, value)
		case "process_resident_memory_bytes":
			f.rss = metricMiB(b, name, value)
		}
	}
	resp.Body.Close()
	if f.heapAlloc == 0 || f.rss == 0 {
		b.Fatal("/metrics lacks go_memstats_heap_alloc_bytes or process_resident_memory_bytes")
	}
	if resp, err := http.Get("http://" + addr + "/health/plugins"); err == nil {
		var body pluginsBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		for _, p := range body.Plugins {
			if p.PID > 0 {
				f.plugins[p.Name] = float64(residentKB(p.PID)) / 1024
			}
		}
	}
	if profile != "" {
		var at string
		select {
		case at = <-pprofc:
		default:
			b.Fatal("serve --pprof-listen logged no address")
		}
		resp, err := http.Get(at + "heap?gc=1")
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(profile)
		if err == nil {
			_, err = io.Copy(out, resp.Body)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		resp.Body.Close()
		if err != nil {
			b.Fatalf("write the heap profile: %v", err)
		}
	}
	return f
}

func metricMiB(b *testing.B, name, value string) float64 {
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		b.Fatalf("/metrics %s %q: %v", name, value, err)
	}
	return v / (1 << 20)
}

// procStatusKB reads one kB field of /proc/PID/status (0 when absent).
func procStatusKB(pid int, field string) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

// buildAt builds the mikrobill binary as it was at a git revision (for a
// baseline), from a copy of the repository at that revision.
func buildAt(b *testing.B, rev string) string {
	b.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		b.Fatal(err)
	}
	src := b.TempDir()
	archive := exec.Command("git", "-C", root, "archive", "--format=tar", rev)
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	untar.Stdin = pipe
	var stderr strings.Builder
	archive.Stderr = &stderr
	if err := untar.Start(); err != nil {
		b.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		b.Fatalf("MIKROBILL_BENCH_BASELINE=%s: git archive: %v %s", rev, err, stderr.String())
	}
	if err := untar.Wait(); err != nil {
		b.Fatalf("MIKROBILL_BENCH_BASELINE=%s: untar: %v", rev, err)
	}
	out := filepath.Join(b.TempDir(), "mikrobill-"+rev)
	build := exec.Command("go", "build", "-o", out, "./cmd/mikrobill")
	build.Dir = filepath.Join(src, "host")
	if msg, err := build.CombinedOutput(); err != nil {
		b.Fatalf("MIKROBILL_BENCH_BASELINE=%s: go build: %v\n%s", rev, err, msg)
	}
	return out
}
