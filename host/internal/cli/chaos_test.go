//go:build chaos

package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

// The chaos scenarios (docs/chaos.md; `make chaos`, build tag chaos): real
// `mikrobill serve` processes on a PostgreSQL of the test's own (initdb and
// pg_ctl on an OS-given port), with payment-template against a fake Example
// Pay, the mikrotik plugin against a fake RouterOS (sdk/routertest) and
// notifyfake as the notify plugin (every message it sends is appended to a
// file all hosts share). A gateway sends signed "payment.paid" webhooks to
// the hosts, resending each until a host answers 2xx, while the scenario
// breaks things. Each then asserts nothing lost and nothing doubled:
// every webhook got its 2xx and its invoice was paid when it did; every
// invoice is credited exactly once; once the load stops and things settle,
// no job of the test's work is left available, running, retryable or
// scheduled, and none was cancelled or discarded; every paid invoice's
// customer is on the router and got the payment message.

// chaosConfig is every chaos host's mikrobill.hcl: quick plugin restarts
// with a budget no storm exhausts, a short job timeout and rescue (a job
// left running by a killed host runs again within seconds, plus River's
// 30 s rescue interval), expiry every second, no pause between messages.
const chaosConfig = `
security {
  rate_limit_max = 100000000
}
plugins {
  call_wait = "20s"
  restart {
    initial_backoff = "50ms"
    max_backoff     = "300ms"
    budget          = 10000
  }
}
jobs {
  poll_interval         = "200ms"
  expiry_check_interval = "1s"
  job_timeout           = "5s"
  rescue_after          = "6s"
}
notifications {
  plugin        = "notify"
  message_delay = "0s"
}
`

// workKinds are the jobs the scenarios' work makes; each must end
// completed.
var workKinds = []string{"confirm_payment", "provision", "notify", "audit", "expire"}

// chaosRig is the hosts of one scenario and what they share.
type chaosRig struct {
	t *testing.T
	// deadline bounds the scenario: every wait fails the test, saying
	// what it waited for, when it is passed.
	deadline time.Time
	bin      string
	plugins  *testenv.PluginDir
	cfg      string
	env      []string // every host's environment (DATABASE_URL, ...)
	pg       *testenv.PGServer
	dbURL    string
	rt       *routertest.Router
	ep       *examplePay
	secret   string
	sentLog  string
	tok      string
	loc      int64
	plan     int64
	client   *http.Client

	mu    sync.Mutex
	hosts []*chaosHost
}

// chaosHost is one `mikrobill serve` process; it may be killed and started
// again on the same data directory.
type chaosHost struct {
	id      string
	dataDir string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	addr   string // "" while down
	exited chan struct{}
}

// newChaosRig builds the binaries, starts the test's own PostgreSQL, the
// fake router and the fake gateway, and makes the plugin directory. bound
// is the scenario's deadline from now; extraEnv is added to every host's
// environment.
func newChaosRig(t *testing.T, bound time.Duration, extraEnv ...string) *chaosRig {
	t.Helper()
	r := &chaosRig{t: t, deadline: time.Now().Add(bound), secret: "whsec_chaos_0123456789abcdef",
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	go func() {
		// A scenario that runs past its deadline says so, whatever it
		// is stuck in; go test's -timeout then ends it.
		select {
		case <-time.After(time.Until(r.deadline) + 30*time.Second):
			fmt.Fprintf(os.Stderr, "chaos: %s is still running 30s after its deadline of %s\n", t.Name(), bound)
		case <-t.Context().Done():
		}
	}()
	r.bin = testenv.Build(t, "host/cmd/mikrobill")
	r.pg = testenv.NewPGServer(t)
	r.dbURL = r.pg.CreateDB("chaos")
	r.rt = routertest.Start(t, routertest.Options{Username: "billing", Password: "router-pass-42"})
	r.rt.Add("/ppp/profile", map[string]string{"name": "isolir", "rate-limit": "64k/64k"})
	r.ep = newExamplePay(t)
	dir := t.TempDir()
	r.sentLog = filepath.Join(dir, "sent.jsonl")
	r.plugins = testenv.NewPluginDir(t)
	r.plugins.AddBundled("payment-template")
	r.plugins.AddBundled("mikrotik")
	r.plugins.AddNotifyFake("notify", map[string]any{"connected": true, "sent_log": r.sentLog})
	r.cfg = filepath.Join(dir, "mikrobill.hcl")
	if err := os.WriteFile(r.cfg, []byte(chaosConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r.env = append([]string{"MIKROBILL_CONFIG=" + r.cfg, "DATABASE_URL=" + r.dbURL,
		"JWT_SECRET=" + strings.Repeat("j", 32), "COOKIE_SECRET=" + strings.Repeat("c", 32), "MIKROBILL_ENCRYPTION_KEY=" + strings.Repeat("ab", 32),
		"MIKROTIK_HOST=127.0.0.1", "MIKROTIK_PORT=" + strconv.Itoa(r.rt.Port()), "MIKROTIK_USERNAME=billing", "MIKROTIK_PASSWORD=router-pass-42"},
		extraEnv...)
	return r
}

// left is how long the scenario has until its deadline.
func (r *chaosRig) left() time.Duration { return time.Until(r.deadline) }

// waitFor polls cond every 100 ms until it holds; past the scenario's
// deadline the test fails, naming what it waited for.
func (r *chaosRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	for !cond() {
		if r.left() <= 0 {
			r.t.Fatalf("chaos: the scenario's deadline passed while waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// addHost starts one more host and waits until it is ready.
func (r *chaosRig) addHost() *chaosHost {
	r.t.Helper()
	r.mu.Lock()
	n := len(r.hosts)
	r.mu.Unlock()
	dir := r.t.TempDir()
	h := &chaosHost{id: fmt.Sprintf("host-%c", 'a'+n), dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "host.log")}
	r.start(h)
	r.mu.Lock()
	r.hosts = append(r.hosts, h)
	r.mu.Unlock()
	r.t.Cleanup(func() {
		r.stop(h)
		if r.t.Failed() {
			raw, _ := os.ReadFile(h.logPath)
			if len(raw) > 20000 {
				raw = raw[len(raw)-20000:]
			}
			r.t.Logf("%s's log (its end):\n%s", h.id, raw)
		}
	})
	return h
}

// start runs h's process and waits until its /ready answers 200.
func (r *chaosRig) start(h *chaosHost) {
	r.t.Helper()
	logf, err := os.OpenFile(h.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "serve", "--listen", "127.0.0.1:0", "--plugin-dir", r.plugins.Dir, "--data-dir", h.dataDir)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "MIKROBILL_HOST_ID=" + h.id}, r.env...)
	cmd.Stdout = logf
	// The host dies with the test process, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", h.id, err)
	}
	exited := make(chan struct{})
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-exited:
		r.t.Fatalf("%s ended before serving; its log is %s", h.id, h.logPath)
	case <-time.After(max(r.left(), time.Second)):
		r.t.Fatalf("chaos: the scenario's deadline passed while %s started", h.id)
	}
	h.mu.Lock()
	h.cmd, h.exited = cmd, exited
	h.mu.Unlock()
	r.waitFor(h.id+"'s /ready", func() bool {
		resp, err := http.Get("http://" + addr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	h.mu.Lock()
	h.addr = addr
	h.mu.Unlock()
}

// kill SIGKILLs h's process (by its pid) and waits until it is gone; its
// plugins die with it (parent-death signal).
func (r *chaosRig) kill(h *chaosHost) {
	r.t.Helper()
	h.mu.Lock()
	cmd, exited := h.cmd, h.exited
	h.mu.Unlock()
	// The gateway learns it is gone as a load balancer does: its requests
	// in flight are cut, new ones are refused, then it is taken out.
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		r.t.Fatalf("kill %s (pid %d): %v", h.id, cmd.Process.Pid, err)
	}
	<-exited
	time.Sleep(50 * time.Millisecond)
	h.mu.Lock()
	h.addr = ""
	h.mu.Unlock()
}

// stop ends h's process at the test's end: SIGTERM, then SIGKILL.
func (r *chaosRig) stop(h *chaosHost) {
	h.mu.Lock()
	cmd, exited := h.cmd, h.exited
	h.addr = ""
	h.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// up is h's address, "" while it is down.
func (h *chaosHost) up() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addr
}

// anyHost is the address of a running host, picked at random ("" when
// none runs).
func (r *chaosRig) anyHost() string {
	r.mu.Lock()
	var addrs []string
	for _, h := range r.hosts {
		if a := h.up(); a != "" {
			addrs = append(addrs, a)
		}
	}
	r.mu.Unlock()
	if len(addrs) == 0 {
		return ""
	}
	return addrs[rand.IntN(len(addrs))]
}

// call sends a JSON API request with the admin token to a running host;
// a host that goes away or a database that restarts meanwhile is retried
// on another, until the deadline.
func (r *chaosRig) call(method, path string, body, out any) (int, []byte) {
	r.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	for {
		if addr := r.anyHost(); addr != "" {
			req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(raw))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+r.tok)
			resp, err := r.client.Do(req)
			if err == nil {
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusBadGateway {
					if out != nil && resp.StatusCode < 300 {
						if err := json.Unmarshal(got, out); err != nil {
							r.t.Fatalf("%s %s: %v: %s", method, path, err, got)
						}
					}
					return resp.StatusCode, got
				}
			}
		}
		if r.left() <= 0 {
			r.t.Fatalf("chaos: the scenario's deadline passed while calling %s %s", method, path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// setUp starts the first host and, through it, makes the admin token,
// configures payment-template and makes a plan. The other hosts start
// after, with the settings in the database.
func (r *chaosRig) setUp(validity time.Duration) *chaosHost {
	r.t.Helper()
	first := r.addHost()
	hh := &host{t: r.t, addr: first.up(), dataDir: first.dataDir, env: r.env}
	r.tok = hh.adminToken()
	settings := map[string]any{"api_key": r.ep.key, "webhook_secret": r.secret, "base_url": r.ep.srv.URL}
	if code, raw := r.call(http.MethodPut, "/api/v1/plugin-settings/payment-template", settings, nil); code != http.StatusOK {
		r.t.Fatalf("save payment-template's settings: %d %s", code, raw)
	}
	var locs struct {
		Items []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if code, raw := r.call(http.MethodGet, "/api/v1/locations", nil, &locs); code != http.StatusOK || len(locs.Items) != 1 {
		r.t.Fatalf("locations: %d %s; want the default location MIKROTIK_HOST makes", code, raw)
	}
	r.loc = locs.Items[0].ID
	var plan struct {
		ID int64 `json:"id"`
	}
	if code, raw := r.call(http.MethodPost, "/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M", "shared_users": 1,
		"validity_seconds": int(validity.Seconds()), "price": 150000, "currency": "IDR", "active": true, "isolation_profile": "isolir"}, &plan); code != http.StatusCreated {
		r.t.Fatalf("POST /api/v1/plans: %d %s", code, raw)
	}
	r.plan = plan.ID
	return first
}

// invoices makes n customers, each with an invoice whose payment is
// started and paid at Example Pay (8 at a time).
func (r *chaosRig) invoices(n int) []paidInvoice {
	r.t.Helper()
	out := make([]paidInvoice, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				out[i] = r.invoice(i)
			}
		})
	}
	for i := range out {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, inv := range out {
		if inv.id == 0 {
			r.t.FailNow() // invoice said what failed
		}
	}
	return out
}

// invoice makes customer i, an invoice for them, and its paid payment; it
// returns the zero paidInvoice (and the test has failed) when a call
// fails.
func (r *chaosRig) invoice(i int) paidInvoice {
	login := fmt.Sprintf("chaos%04d", i)
	var cust, inv struct {
		ID     int64  `json:"id"`
		Number string `json:"number"`
	}
	if code, raw := r.call(http.MethodPost, "/api/v1/customers", map[string]any{"name": fmt.Sprintf("Customer %d", i), "phone": fmt.Sprintf("+62812%07d", i),
		"router_username": login, "router_password": "rahasia-123", "location_id": r.loc}, &cust); code != http.StatusCreated {
		r.t.Errorf("POST /api/v1/customers: %d %s", code, raw)
		return paidInvoice{}
	}
	if code, raw := r.call(http.MethodPost, "/api/v1/invoices", map[string]any{"customer_id": cust.ID, "plan_id": r.plan}, &inv); code != http.StatusCreated {
		r.t.Errorf("POST /api/v1/invoices: %d %s", code, raw)
		return paidInvoice{}
	}
	var started payStarted
	if code, raw := r.call(http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv.ID), map[string]any{"gateway": "payment-template"}, &started); code != http.StatusOK {
		r.t.Errorf("pay invoice %d: %d %s", inv.ID, code, raw)
		return paidInvoice{}
	}
	p := r.ep.markPaid(started.Payment.ID)
	body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("evt_chaos_%d", i), "type": "payment.paid",
		"created_at": time.Now().UTC().Format(time.RFC3339), "data": p})
	return paidInvoice{id: inv.ID, number: inv.Number, customer: login, body: body}
}

// load plays the gateway (gatewayLoad) against the rig's hosts: each post
// to a running host, payment-template's webhook signed when sent, until the
// scenario's deadline.
func (r *chaosRig) load(invs []paidInvoice, senders int, pace time.Duration) *gatewayResult {
	r.t.Helper()
	load := gatewayLoad{senders: senders, pace: pace, deadline: r.deadline}
	load.post = func(inv paidInvoice) (int, []byte, error) {
		addr := r.anyHost()
		if addr == "" {
			return 0, nil, errors.New("no host runs")
		}
		return sendWebhook(r.client, "http://"+addr+"/webhooks/payment-template", inv.body, "Example-Signature", exampleSign(inv.body, r.secret, time.Now()))
	}
	load.paid = func(inv paidInvoice) (bool, bool) {
		var got struct {
			Invoice store.Invoice `json:"invoice"`
		}
		if code, raw := r.call(http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", inv.id), nil, &got); code != http.StatusOK {
			r.t.Errorf("invoice %s: %d %s", inv.number, code, raw)
			return false, false
		}
		return got.Invoice.Status == store.InvoicePaid, true
	}
	return load.run(invs)
}

// settle waits until no job of the scenario's work is waiting, running or
// to be retried (River rescues those a killed host left running after
// jobs.rescue_after), then fails for any that was cancelled or discarded:
// everything that must run completed.
func (r *chaosRig) settle(st *store.Store) {
	r.t.Helper()
	ctx := context.Background()
	open := func(states ...string) map[string]int {
		rows, err := st.Pool().Query(ctx, `SELECT kind || ' ' || state::text, count(*) FROM river_job
			WHERE kind = ANY($1) AND state::text = ANY($2) GROUP BY 1`, workKinds, states)
		if err != nil {
			return map[string]int{"query failed: " + err.Error(): 1}
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				return map[string]int{"scan failed: " + err.Error(): 1}
			}
			out[k] = n
		}
		return out
	}
	began := time.Now()
	var last map[string]int
	for {
		last = open("available", "running", "retryable", "scheduled", "pending")
		if len(last) == 0 {
			break
		}
		if r.left() <= 0 {
			r.t.Fatalf("chaos: the scenario's deadline passed with jobs still open (stranded): %v", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Logf("the work's jobs settled %s after the load", time.Since(began).Round(100*time.Millisecond))
	if bad := open("cancelled", "discarded"); len(bad) > 0 {
		r.t.Errorf("jobs that had to run were given up: %v", bad)
		rows, err := st.Pool().Query(ctx, `SELECT id, kind, state::text, args::text, errors::text FROM river_job
			WHERE kind = ANY($1) AND state::text IN ('cancelled', 'discarded') LIMIT 10`, workKinds)
		if err != nil {
			r.t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var kind, state, args, errs string
			if err := rows.Scan(&id, &kind, &state, &args, &errs); err != nil {
				r.t.Fatal(err)
			}
			r.t.Errorf("job %d %s %s %s: %s", id, kind, state, args, errs)
		}
	}
}

// openStore opens the scenario's database.
func (r *chaosRig) openStore() *store.Store {
	r.t.Helper()
	var st *store.Store
	r.waitFor("the database", func() bool {
		var err error
		st, err = store.Open(context.Background(), store.Options{URL: r.dbURL})
		return err == nil
	})
	r.t.Cleanup(func() { _ = st.Close() })
	return st
}

// sent reads the messages the notify plugins sent, by idempotency key.
func (r *chaosRig) sent() map[string]int {
	r.t.Helper()
	raw, err := os.ReadFile(r.sentLog)
	if err != nil && !os.IsNotExist(err) {
		r.t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			r.t.Fatalf("%s: %v: %s", r.sentLog, err, line)
		}
		out[m.Key]++
	}
	return out
}

// checkProvisionedAndNotified fails unless every invoice's customer has
// their login on the router with the plan's profile, enabled, and got the
// payment message. A message may go twice when the host that sent it died
// before its job was recorded completed (the job runs again elsewhere;
// messages are at least once): those are counted and logged.
func (r *chaosRig) checkProvisionedAndNotified(invs []paidInvoice) {
	r.t.Helper()
	sent := r.sent()
	twice := 0
	for _, inv := range invs {
		row, ok := r.rt.Find("/ppp/secret", inv.customer)
		if !ok || row["disabled"] == "true" || row["profile"] == "isolir" {
			r.t.Errorf("invoice %s paid, but %s on the router is %v (found %v); want provisioned and enabled", inv.number, inv.customer, row, ok)
		}
		switch n := sent["paid-"+inv.number]; {
		case n == 0:
			r.t.Errorf("invoice %s paid, but its payment message was never sent", inv.number)
		case n > 1:
			twice++
		}
	}
	r.t.Logf("%d customers provisioned and notified; %d payment messages went more than once (a host killed between the send and the job's completion)", len(invs), twice)
}
