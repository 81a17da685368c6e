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

// idleFigures are what an idle host reports at one look: its resident
// memory and its split into anonymous pages and pages of its executable
// (/proc/PID/status VmRSS, RssAnon, RssFile), and each running plugin's
// resident memory; at the last look also its Go heap and resident memory
// from its /metrics (go_memstats_heap_alloc_bytes,
// process_resident_memory_bytes: serving /metrics maps pages of its own).
type idleFigures struct {
	after                 time.Duration // idle time after /ready
	rss, rssAnon, rssFile float64       // MiB, /proc
	heapAlloc, metricsRSS float64       // MiB, /metrics (last look only)
	peakRSS               float64       // MiB, /proc, the highest from the first look to the last (last look only)
	idleCPU               time.Duration // the host's CPU time from the first look to the last (last look only)
	plugins               map[string]float64
}

// BenchmarkIdleHostMemory starts the mikrobill binary as `make run` does
// (a fresh data directory: embedded SQLite, in-memory cache; the bundled
// plugins that make build installs, payment-template excepted), waits for
// /ready and looks at it after each idle time of MIKROBILL_BENCH_IDLE (a
// comma-separated list, default "30s,150s": one host, looked at 30 s and
// 150 s after /ready; 150 s is past the runtime's forced collection every
// two minutes and many job-queue polls, health checks and heartbeats). At
// each look it reports the host process's resident memory and its split,
// anonymous (heap, stacks, the runtime's) against the pages of the
// executable, from /proc/PID/status, read without asking the host
// anything (rss-<idle>-MiB, rss-anon-<idle>-MiB, rss-file-<idle>-MiB); at
// the last look, then, its Go heap (heap-MiB) and resident memory
// (rss-MiB) from its /metrics, and the highest resident memory read every
// second from the first look to the last (rss-peak-MiB: an idle host gives
// back every 30 s what its idle work left resident, so its figure goes up
// and down between the looks) and the CPU time it used meanwhile
// (idle-cpu-ms, what the idle work and the releases cost). The plugins are
// processes of their own,
// reported beside it.
//
// MIKROBILL_BENCH_BASELINE=<git revision> measures the host built at that
// revision too, interleaved, reporting base-* figures (docs/BENCHMARKS.md,
// "Idle host memory"). MIKROBILL_BENCH_PROFILE=<file> writes the idle
// host's heap profile there (serve --pprof-listen).
func BenchmarkIdleHostMemory(b *testing.B) {
	looks := []time.Duration{30 * time.Second, 150 * time.Second}
	if v := os.Getenv("MIKROBILL_BENCH_IDLE"); v != "" {
		looks = nil
		for _, f := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(f))
			if err != nil || d < 0 || (len(looks) > 0 && d <= looks[len(looks)-1]) {
				b.Fatalf("MIKROBILL_BENCH_IDLE=%q: want increasing durations, comma-separated, such as 30s,150s", v)
			}
			looks = append(looks, d)
		}
	}
	bin := testenv.Build(b, "host/cmd/mikrobill")
	base := ""
	if rev := os.Getenv("MIKROBILL_BENCH_BASELINE"); rev != "" {
		base = buildAt(b, rev)
	}
	bin = freshCopy(b, bin)
	if base != "" {
		base = freshCopy(b, base)
	}
	dir := testenv.NewPluginDir(b)
	var names []string
	for _, n := range bundled(b) {
		dir.AddBundled(n)
		names = append(names, n)
	}
	report := func(prefix string, fs []idleFigures) {
		for _, f := range fs {
			at := f.after.String()
			b.ReportMetric(f.rss, prefix+"rss-"+at+"-MiB")
			b.ReportMetric(f.rssAnon, prefix+"rss-anon-"+at+"-MiB")
			b.ReportMetric(f.rssFile, prefix+"rss-file-"+at+"-MiB")
		}
		last := fs[len(fs)-1]
		if len(fs) > 1 {
			b.ReportMetric(last.peakRSS, prefix+"rss-peak-MiB")
			b.ReportMetric(float64(last.idleCPU)/float64(time.Millisecond), prefix+"idle-cpu-ms")
		}
		b.ReportMetric(last.heapAlloc, prefix+"heap-MiB")
		b.ReportMetric(last.metricsRSS, prefix+"rss-MiB")
	}
	for range b.N {
		if base != "" {
			fs := idleHost(b, base, dir.Dir, looks, "")
			report("base-", fs)
			printIdle("baseline "+os.Getenv("MIKROBILL_BENCH_BASELINE"), fs)
		}
		fs := idleHost(b, bin, dir.Dir, looks, os.Getenv("MIKROBILL_BENCH_PROFILE"))
		report("", fs)
		total := 0.0
		for _, v := range fs[len(fs)-1].plugins {
			total += v
		}
		b.ReportMetric(total, "plugins-rss-MiB")
		printIdle("this build", fs)
	}
	fmt.Printf("(bundled plugins: %s)\n", strings.Join(names, ", "))
}

func printIdle(what string, fs []idleFigures) {
	fmt.Printf("\nidle host (%s):", what)
	for _, f := range fs {
		fmt.Printf(" %s after /ready: RSS %.1f MiB (anonymous %.1f, executable's pages %.1f);", f.after, f.rss, f.rssAnon, f.rssFile)
	}
	f := fs[len(fs)-1]
	if len(fs) > 1 {
		fmt.Printf(" highest RSS from %s to %s: %.1f MiB, CPU %s;", fs[0].after, f.after, f.peakRSS, f.idleCPU.Round(time.Millisecond))
	}
	fmt.Printf(" then /metrics: heap %.1f MiB, RSS %.1f MiB; plugins:", f.heapAlloc, f.metricsRSS)
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

// idleHost runs bin serve on a fresh data directory, looks at it after
// each idle time in looks (increasing) after /ready, and returns its
// figures, one per look; with profile set, the heap profile (after a GC)
// is written there after the last look.
func idleHost(b *testing.B, bin, pluginDir string, looks []time.Duration, profile string) []idleFigures {
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
	ready := time.Now()
	// /proc only until the last look: serving /metrics runs code of its
	// own (the collectors, the plugins' metrics) and maps its pages.
	// Between the first look and the last, VmRSS is read every second: the
	// host gives back what its idle work left resident every 30 s, so
	// its resident memory goes up and down, and peakRSS is the top of it.
	var fs []idleFigures
	pid := cmd.Process.Pid
	peak := 0.0
	var cpuFirst time.Duration
	for i, d := range looks {
		for i > 0 && time.Until(ready.Add(d)) > time.Second {
			time.Sleep(time.Second)
			peak = max(peak, float64(procStatusKB(pid, "VmRSS:"))/1024)
		}
		time.Sleep(time.Until(ready.Add(d)))
		if i == 0 {
			cpuFirst = cpuTime(pid)
		}
		fs = append(fs, idleFigures{
			after:   d,
			rss:     float64(procStatusKB(pid, "VmRSS:")) / 1024,
			rssAnon: float64(procStatusKB(pid, "RssAnon:")) / 1024,
			rssFile: float64(procStatusKB(pid, "RssFile:")) / 1024,
			plugins: map[string]float64{},
		})
	}
	f := &fs[len(fs)-1]
	for _, l := range fs {
		peak = max(peak, l.rss)
	}
	f.peakRSS = peak
	f.idleCPU = cpuTime(pid) - cpuFirst
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
			f.metricsRSS = metricMiB(b, name, value)
		}
	}
	resp.Body.Close()
	if f.heapAlloc == 0 || f.metricsRSS == 0 {
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
	return fs
}

// freshCopy copies an executable to a new file, one 4 KiB page per write,
// and returns its path. The pages of its executable that a process keeps
// mapped (RssFile) depend on how the file sits in the page cache, not only
// on the code it runs: a fault maps the cached folio it hits and the
// kernel's fault-around maps the cached neighbours. A file written in one
// large write(2) is cached in large folios: the same build kept 44.9 MiB
// of its executable mapped from such a copy against 23.9 MiB from a copy
// written a page at a time (as the linker writes its output, through a
// mapping), run side by side; a file partly evicted since it was written
// keeps fewer. Copied a page at a time just before the run, the baseline
// and this build start alike.
func freshCopy(b *testing.B, bin string) string {
	b.Helper()
	in, err := os.Open(bin)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	name := filepath.Join(b.TempDir(), filepath.Base(bin))
	out, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		b.Fatal(err)
	}
	page := make([]byte, 4096)
	for {
		n, rerr := io.ReadFull(in, page)
		if n > 0 {
			if _, err := out.Write(page[:n]); err != nil {
				b.Fatal(err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			b.Fatal(rerr)
		}
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return name
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
	src := sourceAt(b, rev)
	out := filepath.Join(b.TempDir(), "mikrobill-"+rev)
	build := exec.Command("go", "build", "-o", out, "./cmd/mikrobill")
	build.Dir = filepath.Join(src, "host")
	if msg, err := build.CombinedOutput(); err != nil {
		b.Fatalf("MIKROBILL_BENCH_BASELINE=%s: go build: %v\n%s", rev, err, msg)
	}
	return out
}

// sourceAt copies the repository as it was at a git revision into a
// temporary folder and returns that folder.
func sourceAt(b *testing.B, rev string) string {
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
	return src
}
