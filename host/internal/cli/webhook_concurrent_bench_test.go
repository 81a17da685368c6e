package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// webhookSenders is how many webhooks are in flight at once in
// BenchmarkWebhookConcurrentRatio, as a busy gateway (or several) sends
// them.
const webhookSenders = 32

// BenchmarkWebhookConcurrentRatio sends a thousand paid webhooks or more
// (MIKROBILL_BENCH_INVOICES, default 1000, so that its four runs stay
// within a few minutes on two cores; each for an invoice of its own
// customer) from 32 senders at once, through the whole pipeline of a real
// deployment: payment-template (against a fake Example Pay) takes the
// webhooks, the mikrotik plugin provisions each customer on a fake router
// speaking the RouterOS API (sdk/routertest), and the whatsapp plugin
// (built with its fake WhatsApp, -tags wafake) sends each customer the
// receipt. A webhook counts only when its invoice ends paid, its customer
// is on the router and the receipt was taken by WhatsApp.
//
// It runs on the embedded SQLite, and with MIKROBILL_TEST_POSTGRES_URL on
// PostgreSQL (a database of its own) with one host, then with two and with
// three hosts on one database of their own, the webhooks spread round-robin
// over them. Each run measures, first, its baseline: as many signed pings
// (the same HTTP round trip through the host to the plugin, nothing to
// confirm or credit) from 32 senders.
//
// It prints, per run: paid webhooks a second (those counted, over the time
// until the last webhook was answered), p50 and p99 latency, the rate at
// which the whole pipeline settled (over the time until the last customer
// was provisioned and notified), and the pings' rate and p99; and for
// several hosts the throughput ratio to one host.
// MIKROBILL_BENCH_RUNS=sqlite,postgres (names as printed) runs only those;
// MIKROBILL_BENCH_HCL is configuration the hosts read as their
// mikrobill.hcl (to try, say, jobs { workers = 32 }).
func BenchmarkWebhookConcurrentRatio(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("MIKROBILL_BENCH_INVOICES")); err == nil && v > 0 {
		n = v
	}
	type run struct {
		name, backend string
		hosts         int
	}
	runs := []run{{"sqlite", "sqlite", 1}}
	if os.Getenv(storetest.EnvPostgres) != "" {
		runs = append(runs, run{"postgres", "postgres", 1}, run{"postgres-2hosts", "postgres", 2}, run{"postgres-3hosts", "postgres", 3})
	}
	if only := os.Getenv("MIKROBILL_BENCH_RUNS"); only != "" {
		runs = slices.DeleteFunc(runs, func(r run) bool { return !slices.Contains(strings.Split(only, ","), r.name) })
	}
	for range b.N {
		var oneHost float64
		for _, ru := range runs {
			r := newPipelineRig(b, ru.backend, ru.hosts)
			res := r.measure(b, n)
			fmt.Printf("\n(f) %d webhooks from %d senders on %s: %.0f paid/s (%d of %d paid, provisioned and notified), p50 %s, p99 %s; settled %.0f/s (last one %s after the last answer); signed pings %.0f/s, p99 %s; paid/ping rate %.2fx\n",
				n, webhookSenders, ru.name, res.rate, res.done, n, percentile(res.lat, 50), percentile(res.lat, 99),
				res.settledRate, res.drain.Round(time.Millisecond), res.pingRate, percentile(res.pingLat, 99), res.rate/res.pingRate)
			b.ReportMetric(res.rate, "paid/s/"+ru.name)
			b.ReportMetric(float64(percentile(res.lat, 99).Microseconds())/1000, "p99-ms/"+ru.name)
			b.ReportMetric(res.rate/res.pingRate, "paid/ping-x/"+ru.name)
			b.ReportMetric(res.settledRate, "settled/s/"+ru.name)
			fmt.Printf("(f) %s: the benchmark's process (hosts, fakes, senders) used %s of CPU per webhook against %s per ping (%.1fx); Example Pay answered %.2f status queries per webhook\n",
				ru.name, res.cpu.Round(time.Microsecond), res.pingCPU.Round(time.Microsecond), float64(res.cpu)/float64(max(res.pingCPU, 1)), res.statusQueries)
			b.ReportMetric(float64(res.cpu.Microseconds())/1000, "cpu-ms/webhook/"+ru.name)
			b.ReportMetric(res.statusQueries, "status-queries/webhook/"+ru.name)
			if res.machineOK {
				fmt.Printf("(f) %s: %s\n", ru.name, machineLine(res.machine, res.pingMachine, n))
				b.ReportMetric(perItem(res.machine.busy, n), "machine-cpu-ms/webhook/"+ru.name)
				b.ReportMetric(perItem(res.machine.postgres, n), "postgres-cpu-ms/webhook/"+ru.name)
				b.ReportMetric(perItem(res.machine.children, n), "plugins-cpu-ms/webhook/"+ru.name)
			}
			if res.turnHeld >= 0 {
				fmt.Printf("(f) %s: the embedded database's write turn was held %.0f%% of the time the webhooks were answered; %.1f transactions and writes a commit\n", ru.name, 100*res.turnHeld, res.group)
				b.ReportMetric(100*res.turnHeld, "write-turn-held-%/"+ru.name)
				b.ReportMetric(res.group, "writes/commit/"+ru.name)
			}
			if ru.backend == "postgres" {
				if ru.hosts == 1 {
					oneHost = res.rate
				} else if oneHost > 0 {
					fmt.Printf("(f) %d hosts on one PostgreSQL against one host: %.2fx paid/s\n", ru.hosts, res.rate/oneHost)
					b.ReportMetric(res.rate/oneHost, "x-one-host/"+ru.name)
				}
			}
			r.stop()
		}
	}
}

// pipelineRig is one or more hosts on one store with payment-template,
// mikrotik (on a fake router) and whatsapp (on a fake WhatsApp), ready to
// take webhooks; the first host takes the API calls that prepare them.
type pipelineRig struct {
	*webhookRig
	addrs    []string
	dataDirs []string
	rt       *routertest.Router
	next     atomic.Uint64 // round-robin over addrs
	cleanups []func()
}

// newPipelineRig starts hosts on backend (on PostgreSQL, all on one
// database of their own).
func newPipelineRig(b *testing.B, backend string, hosts int) *pipelineRig {
	b.Helper()
	rt := routertest.Start(b, routertest.Options{Username: "billing", Password: "router-pass-42"})
	env := []string{"RATE_LIMIT_MAX=100000000", // the preparation calls the API thousands of times
		"MIKROTIK_HOST=127.0.0.1", "MIKROTIK_PORT=" + strconv.Itoa(rt.Port()), "MIKROTIK_USERNAME=billing", "MIKROTIK_PASSWORD=router-pass-42",
		"WHATSAPP_MESSAGE_DELAY=0",
		"JWT_SECRET=" + strings.Repeat("j", 32), "COOKIE_SECRET=" + strings.Repeat("c", 32), "MIKROBILL_ENCRYPTION_KEY=" + strings.Repeat("ab", 32)}
	if backend == "postgres" {
		env = append(env, "DATABASE_URL="+storetest.PostgresURL(b))
	}
	p := &pipelineRig{rt: rt}
	if hcl := os.Getenv("MIKROBILL_BENCH_HCL"); hcl != "" {
		f := filepath.Join(b.TempDir(), "mikrobill.hcl")
		if err := os.WriteFile(f, []byte(hcl), 0o600); err != nil {
			b.Fatal(err)
		}
		env = append(env, "MIKROBILL_CONFIG="+f)
	}
	for i := range hosts {
		d := testenv.NewPluginDir(b)
		d.AddBundled("payment-template")
		d.AddBundled("mikrotik")
		d.AddBundled("whatsapp", "wafake")
		addr, dataDir, stop := startBenchHostStoppable(b, d.Dir, append([]string{"MIKROBILL_HOST_ID=" + fmt.Sprintf("bench-%d", i+1)}, env...))
		p.addrs = append(p.addrs, addr)
		p.dataDirs = append(p.dataDirs, dataDir)
		p.cleanups = append(p.cleanups, stop)
	}
	r := &webhookRig{backend: backend, addr: p.addrs[0], ep: newExamplePay(b), secret: "whsec_bench_0123456789abcdef",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: webhookSenders * 2}}}
	r.tok = benchToken(b, append(env, "MIKROBILL_DATA_DIR="+p.dataDirs[0]))
	p.webhookRig = r
	settings := map[string]any{"api_key": r.ep.key, "webhook_secret": r.secret, "base_url": r.ep.srv.URL}
	for _, addr := range p.addrs {
		// Saved through each host, so each has configured its own
		// plugin before the first webhook.
		if code, raw := p.callOn(b, addr, http.MethodPut, "/api/v1/plugin-settings/payment-template", settings, nil); code != http.StatusOK {
			b.Fatalf("save settings on %s: %d %s", addr, code, raw)
		}
	}
	// whatsapp is a singleton: it runs on the host that holds its lease,
	// which pairs the sender (the fake pairs by itself 300 ms after the
	// pairing starts); the other hosts' notifications reach it through
	// the job queue. The pairing is asked of each host in turn until the
	// one that runs it answers.
	var holder string
	sdktest.WaitFor(b, 30*time.Second, "a host's whatsapp plugin answers", func() bool {
		for _, addr := range p.addrs {
			if code, _ := p.callOn(b, addr, http.MethodPost, "/api/v1/messaging/whatsapp/sessions/billing/pair", nil, nil); code == http.StatusOK {
				holder = addr
				return true
			}
		}
		return false
	})
	sdktest.WaitFor(b, 30*time.Second, "the whatsapp session on "+holder+" connected", func() bool {
		var s struct {
			Session struct {
				Status string `json:"status"`
			} `json:"session"`
		}
		p.callOn(b, holder, http.MethodGet, "/api/v1/messaging/whatsapp/sessions/billing", nil, &s)
		return s.Session.Status == "connected"
	})
	var plan struct {
		ID int64 `json:"id"`
	}
	if code, raw := r.call(b, http.MethodPost, "/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M", "shared_users": 1,
		"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true}, &plan); code != http.StatusCreated {
		b.Fatalf("POST /api/v1/plans: %d %s", code, raw)
	}
	var locs struct {
		Items []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if code, raw := r.call(b, http.MethodGet, "/api/v1/locations", nil, &locs); code != http.StatusOK || len(locs.Items) != 1 {
		b.Fatalf("locations: %d %s; want the default location MIKROTIK_HOST configures", code, raw)
	}
	r.plan, r.cust = plan.ID, locs.Items[0].ID // cust holds the location here: each invoice has a customer of its own
	return p
}

// writerFigures are the embedded database's writer counters summed over
// the hosts' /metrics: the time the write turn was held, the commits, and
// the transactions and writes committed in them. ok is false where there
// is no such writer (PostgreSQL).
type writerFigures struct {
	held, commits, committed float64
	ok                       bool
}

func (p *pipelineRig) writerFigures(b *testing.B) writerFigures {
	b.Helper()
	var w writerFigures
	for _, addr := range p.addrs {
		resp, err := p.client.Get("http://" + addr + "/metrics")
		if err != nil {
			b.Fatalf("GET /metrics on %s: %v", addr, err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatalf("/metrics on %s does not parse: %v", addr, err)
		}
		for name, into := range map[string]*float64{
			"mikrobill_db_write_turn_held_seconds_total":  &w.held,
			"mikrobill_db_write_group_commits_total":      &w.commits,
			"mikrobill_db_write_group_transactions_total": &w.committed,
		} {
			f, ok := fams[name]
			if !ok {
				return writerFigures{}
			}
			for _, m := range f.GetMetric() {
				*into += m.GetCounter().GetValue()
			}
		}
	}
	w.ok = true
	return w
}

// machineLine says where the machine's CPU went per webhook and per ping
// (n of each).
func machineLine(wh, ping machineCPU, n int) string {
	part := func(m machineCPU) string {
		return fmt.Sprintf("%.2f ms busy (%.0f%% of the cores' time): this process %.2f, its plugins %.2f, PostgreSQL %.2f, the rest %.2f",
			perItem(m.busy, n), 100*float64(m.busy)/float64(max(m.busy+m.idle, 1)), perItem(m.self, n), perItem(m.children, n),
			perItem(m.postgres, n), perItem(m.rest(), n))
	}
	return "the machine's CPU per webhook while they were answered: " + part(wh) + "; per ping: " + part(ping)
}

// perItem is d per item of n, in milliseconds.
func perItem(d time.Duration, n int) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }

// stop stops the hosts now, so the next run has the machine to itself.
func (p *pipelineRig) stop() {
	for _, f := range slices.Backward(p.cleanups) {
		f()
	}
}

// callOn is call against the host at addr.
func (p *pipelineRig) callOn(b *testing.B, addr, method, path string, body, out any) (int, []byte) {
	b.Helper()
	saved := p.addr
	defer func() { p.addr = saved }()
	p.addr = addr
	return p.call(b, method, path, body, out)
}

// pipelineWebhook is a prepared webhook and the customer it pays for.
type pipelineWebhook struct {
	prepared
	user  string // the customer's router login
	phone string // the customer's phone, digits only
}

// prepareCustomers makes n customers with an unpaid invoice each, starts
// paying each with payment-template, marks the payments paid at Example Pay
// and returns the signed webhooks that say so. Eight goroutines prepare
// them (untimed).
func (p *pipelineRig) prepareCustomers(b *testing.B, n int) []pipelineWebhook {
	b.Helper()
	out := make([]pipelineWebhook, n)
	base := p.seq
	p.seq += n
	var wg sync.WaitGroup
	var failed atomic.Value
	idx := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range idx {
				if err := p.prepareOne(&out[i], base+i); err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		})
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return out
}

// prepareOne prepares webhook number seq into w.
func (p *pipelineRig) prepareOne(w *pipelineWebhook, seq int) error {
	w.user = fmt.Sprintf("bench%06d", seq)
	w.phone = fmt.Sprintf("62813%08d", seq)
	var cust, inv struct {
		ID int64 `json:"id"`
	}
	if err := p.apiCall(http.MethodPost, "/api/v1/customers", map[string]any{"name": "Pelanggan " + w.user, "phone": "+" + w.phone,
		"router_username": w.user, "router_password": "rahasia-123", "location_id": p.cust}, &cust, http.StatusCreated); err != nil {
		return err
	}
	if err := p.apiCall(http.MethodPost, "/api/v1/invoices", map[string]any{"customer_id": cust.ID, "plan_id": p.plan}, &inv, http.StatusCreated); err != nil {
		return err
	}
	var started payStarted
	if err := p.apiCall(http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv.ID), map[string]any{"gateway": "payment-template"}, &started, http.StatusOK); err != nil {
		return err
	}
	pay := p.ep.markPaid(started.Payment.ID)
	body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("evt_%s_%d", p.backend, seq), "type": "payment.paid",
		"created_at": time.Now().UTC().Format(time.RFC3339), "data": pay})
	w.prepared = prepared{invoice: inv.ID, body: body, sig: exampleSign(body, p.secret, time.Now())}
	return nil
}

// apiCall is call for goroutines: an unexpected status is an error.
func (p *pipelineRig) apiCall(method, path string, body, out any, want int) error {
	raw, _ := json.Marshal(body)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, "http://"+p.addrs[0]+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.tok)
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			return fmt.Errorf("%s %s: %w: %s", method, path, err, got)
		}
	}
	return nil
}

// pipelineResult is one run's figures.
type pipelineResult struct {
	done                        int     // paid, provisioned and notified
	rate, settledRate, pingRate float64 // a second
	drain                       time.Duration
	lat, pingLat                []time.Duration
	// cpu and pingCPU are the CPU time of the benchmark's process (the
	// hosts, the fakes, the senders; not the plugins' processes nor the
	// database's) per webhook and per ping while they were answered.
	cpu, pingCPU time.Duration
	// statusQueries is Example Pay's status queries per webhook while the
	// webhooks were answered.
	statusQueries float64
	// machine and pingMachine are where the machine's CPU went while the
	// webhooks, and the pings, were answered (machineOK: it could be read).
	machine, pingMachine machineCPU
	machineOK            bool
	// turnHeld is the share of the time until the last webhook was
	// answered in which the embedded database's write turn was held
	// (mikrobill_db_write_turn_held_seconds_total, summed over the hosts;
	// -1 on PostgreSQL).
	turnHeld float64
	// group is the mean number of transactions and writes a commit of the
	// embedded database committed meanwhile.
	group float64
}

// measure prepares n webhooks, sends n signed pings as the baseline, then
// the webhooks, and waits until every paid invoice's customer is
// provisioned and notified (or nothing moved for 30 seconds).
func (p *pipelineRig) measure(b *testing.B, n int) pipelineResult {
	b.Helper()
	batch := p.prepareCustomers(b, n)
	p.waitQueueIdle(b)
	pings := make([]prepared, n)
	for i := range pings {
		pings[i] = p.ping()
	}
	var res pipelineResult
	var pingTook time.Duration
	cpu0 := processCPU()
	mach0, ok0 := readMachineCPU()
	pingTook, res.pingLat = p.fireRoundRobin(b, pings)
	mach1, ok1 := readMachineCPU()
	res.pingCPU = (processCPU() - cpu0) / time.Duration(n)
	res.pingMachine = mach1.sub(mach0)
	res.pingRate = float64(n) / pingTook.Seconds()
	plain := make([]prepared, n)
	for i, w := range batch {
		plain[i] = w.prepared
	}
	begin := time.Now()
	cpu0, queries0 := processCPU(), p.ep.statusQueries.Load()
	mach0, ok2 := readMachineCPU()
	writer0 := p.writerFigures(b)
	var took time.Duration
	stopProfile := windowProfile(b, fmt.Sprintf("%s-%dhosts", p.backend, len(p.addrs)))
	took, res.lat = p.fireRoundRobin(b, plain)
	answered := begin.Add(took)
	stopProfile()
	mach1, ok3 := readMachineCPU()
	res.turnHeld = -1
	if writer1 := p.writerFigures(b); writer0.ok && writer1.ok {
		res.turnHeld = (writer1.held - writer0.held) / took.Seconds()
		if commits := writer1.commits - writer0.commits; commits > 0 {
			res.group = (writer1.committed - writer0.committed) / commits
		}
	}
	res.cpu = (processCPU() - cpu0) / time.Duration(n)
	res.machine, res.machineOK = mach1.sub(mach0), ok0 && ok1 && ok2 && ok3
	res.statusQueries = float64(p.ep.statusQueries.Load()-queries0) / float64(n)
	paid := p.paidInvoices(b, batch)
	done, last := p.waitSettled(b, batch, paid)
	res.done = done
	res.rate = float64(done) / took.Seconds()
	res.drain = max(last.Sub(answered), 0)
	res.settledRate = float64(done) / last.Sub(begin).Seconds()
	return res
}

// waitQueueIdle waits until the jobs the preparation queued (the
// invoices' audit events and messages) are done, so the webhooks' jobs do
// not queue behind them.
func (p *pipelineRig) waitQueueIdle(b *testing.B) {
	b.Helper()
	sdktest.WaitFor(b, 10*time.Minute, "the preparation's jobs done", func() bool {
		var open struct {
			Items []json.RawMessage `json:"items"`
		}
		err := p.apiCall(http.MethodGet, "/api/v1/jobs?state=available&state=running&state=retryable&state=pending", nil, &open, http.StatusOK)
		return err == nil && len(open.Items) == 0
	})
}

// fireRoundRobin is fire with the requests spread round-robin over the
// hosts.
func (p *pipelineRig) fireRoundRobin(b *testing.B, ps []prepared) (time.Duration, []time.Duration) {
	return p.fireWith(b, ps, func(pr prepared) error {
		addr := p.addrs[int(p.next.Add(1)-1)%len(p.addrs)]
		return postWebhook(p.client, addr, pr)
	})
}

// paidInvoices returns which webhooks' invoices are paid.
func (p *pipelineRig) paidInvoices(b *testing.B, batch []pipelineWebhook) []bool {
	b.Helper()
	paid := make([]bool, len(batch))
	var wg sync.WaitGroup
	idx := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range idx {
				var got struct {
					Invoice struct {
						Status string `json:"status"`
					} `json:"invoice"`
				}
				if p.apiCall(http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", batch[i].invoice), nil, &got, http.StatusOK) == nil {
					paid[i] = got.Invoice.Status == "paid"
				}
			}
		})
	}
	for i := range batch {
		idx <- i
	}
	close(idx)
	wg.Wait()
	return paid
}

// waitSettled waits until every paid webhook's customer is on the router
// and was sent a message, or nothing moved for 30 seconds. It returns how
// many are, and when the last of them became so (to the polling's 20 ms).
func (p *pipelineRig) waitSettled(b *testing.B, batch []pipelineWebhook, paid []bool) (int, time.Time) {
	b.Helper()
	want := 0
	for _, ok := range paid {
		if ok {
			want++
		}
	}
	done, last, moved := -1, time.Now(), time.Now()
	for {
		onRouter := map[string]bool{}
		for _, row := range p.rt.Rows("/ppp/secret") {
			onRouter[row["name"]] = true
		}
		sent := p.sentTo(b)
		n := 0
		for i, w := range batch {
			if paid[i] && onRouter[w.user] && sent[w.phone] {
				n++
			}
		}
		if n != done {
			done, last, moved = n, time.Now(), time.Now()
		}
		if done == want || time.Since(moved) > 30*time.Second {
			return done, last
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sentTo is the set of phones (digits) the fake WhatsApp of every host
// took a receipt for.
func (p *pipelineRig) sentTo(b *testing.B) map[string]bool {
	b.Helper()
	out := map[string]bool{}
	for _, dir := range p.dataDirs {
		f, err := os.Open(filepath.Join(dir, "plugins", "whatsapp", "wafake-sent.jsonl"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m struct {
				To          string `json:"to"`
				Attachments []struct {
					MIME string `json:"mime"`
				} `json:"attachments"`
			}
			// The receipt carries the invoice's PDF; the message that
			// the invoice was made (sent while preparing) does not.
			if json.Unmarshal(sc.Bytes(), &m) == nil && len(m.Attachments) == 1 && m.Attachments[0].MIME == "application/pdf" {
				out[strings.Map(func(r rune) rune {
					if r >= '0' && r <= '9' {
						return r
					}
					return -1
				}, strings.SplitN(m.To, "@", 2)[0])] = true
			}
		}
		f.Close()
	}
	return out
}

// fireWith sends every webhook with post from webhookSenders goroutines at
// once.
func (r *webhookRig) fireWith(b *testing.B, ps []prepared, post func(prepared) error) (time.Duration, []time.Duration) {
	b.Helper()
	next := make(chan prepared)
	lat := make([]time.Duration, 0, len(ps))
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	begin := time.Now()
	for range webhookSenders {
		wg.Go(func() {
			for p := range next {
				start := time.Now()
				err := post(p)
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for _, p := range ps {
		next <- p
	}
	close(next)
	wg.Wait()
	took := time.Since(begin)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return took, lat
}

// post sends one webhook; an answer other than the plugin's 200 is an
// error.
func (r *webhookRig) post(p prepared) error { return postWebhook(r.client, r.addr, p) }

// postWebhook sends one webhook to payment-template on the host at addr;
// an answer other than the plugin's 200 is an error.
func postWebhook(client *http.Client, addr string, p prepared) error {
	code, raw, err := sendWebhook(client, "http://"+addr+"/webhooks/payment-template", p.body, "Example-Signature", p.sig)
	if err != nil {
		return err
	}
	if code != http.StatusOK || string(raw) != `{"received":true}` {
		return fmt.Errorf("webhook to %s: %d %s", addr, code, raw)
	}
	return nil
}

// percentile is the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(i, 0)].Round(100 * time.Microsecond)
}

// processCPU is the CPU time (user and system) the benchmark's process has
// used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// windowProfile starts a CPU profile of this process (the hosts, the fakes
// and the senders) for the time the webhooks are answered, when
// MIKROBILL_BENCH_WINDOW_PROFILE names a file (run is added before its
// extension: a run on PostgreSQL does not overwrite SQLite's); it returns
// what stops it. The preparation and the wait for the jobs to settle are
// left out: profiled whole, the benchmark shows mostly those.
func windowProfile(b *testing.B, run string) func() {
	b.Helper()
	path := os.Getenv("MIKROBILL_BENCH_WINDOW_PROFILE")
	if path == "" {
		return func() {}
	}
	ext := filepath.Ext(path)
	path = strings.TrimSuffix(path, ext) + "-" + run + ext
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatalf("%v (run the benchmark without -cpuprofile to profile the window)", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("CPU profile of the webhooks' window: %s", path)
	}
}
