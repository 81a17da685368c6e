package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// hostCluster is several mikrobill processes (the real binary, so that a
// test can SIGKILL one by its pid) on one PostgreSQL database, sharing
// their secrets and a configuration file, each with a data directory and
// a plugin directory of its own. Tests of several hosts start one with
// startHostCluster and start, kill and stop its hosts by id.
type hostCluster struct {
	t *testing.T
	// env is what every host and every CLI command run against one gets:
	// DATABASE_URL, the shared secrets, MIKROBILL_CONFIG.
	env []string
	// plugins fills the plugin directory of a host as it starts.
	plugins func(id string, d *testenv.PluginDir)
	hosts   map[string]*clusterHost
}

// clusterHost is one host of a hostCluster.
type clusterHost struct {
	*realHost
	id  string
	dir *testenv.PluginDir
}

// startHostCluster makes a cluster on a new PostgreSQL database (skipped
// without MIKROBILL_TEST_POSTGRES_URL) with the configuration file hcl
// (HCL, as mikrobill.hcl) and starts the hosts ids, one after the other.
func startHostCluster(t *testing.T, hcl string, plugins func(id string, d *testenv.PluginDir), ids ...string) *hostCluster {
	t.Helper()
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set: several hosts need PostgreSQL", storetest.EnvPostgres)
	}
	conf := filepath.Join(t.TempDir(), "mikrobill.hcl")
	if err := os.WriteFile(conf, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &hostCluster{t: t, plugins: plugins, hosts: map[string]*clusterHost{},
		env: []string{"DATABASE_URL=" + storetest.PostgresURL(t), "JWT_SECRET=" + strings.Repeat("j", 32),
			"COOKIE_SECRET=" + strings.Repeat("c", 32), "MIKROBILL_ENCRYPTION_KEY=" + strings.Repeat("ab", 32),
			"MIKROBILL_CONFIG=" + conf}}
	for _, id := range ids {
		c.start(id)
	}
	return c
}

// start starts host id (again, after it was killed or stopped: with a new
// data directory and the same plugins) and waits until it serves.
func (c *hostCluster) start(id string) *clusterHost {
	c.t.Helper()
	d := testenv.NewPluginDir(c.t)
	c.plugins(id, d)
	rh := startRealHost(c.t, d.Dir, func(cmd *exec.Cmd) {
		cmd.Env = append(cmd.Env, c.env...)
		cmd.Env = append(cmd.Env, "MIKROBILL_HOST_ID="+id)
	})
	h := &clusterHost{realHost: rh, id: id, dir: d}
	c.hosts[id] = h
	return h
}

// kill SIGKILLs host id by its pid and waits until it is gone (its plugins
// die with it).
func (c *hostCluster) kill(id string) {
	c.t.Helper()
	h := c.hosts[id]
	if err := syscall.Kill(h.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	<-h.exited
}

// stop stops host id as SIGTERM does and waits until it exited cleanly.
func (c *hostCluster) stop(id string) {
	c.t.Helper()
	h := c.hosts[id]
	if err := syscall.Kill(h.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	select {
	case err := <-h.exited:
		if err != nil {
			c.t.Fatalf("host %s exited with %v after SIGTERM\n%s", id, err, h.logs.String())
		}
	case <-time.After(40 * time.Second):
		c.t.Fatalf("host %s did not stop within 40s", id)
	}
}

// api is host id as the API helpers of the in-process tests see it
// (api, adminToken, payNewInvoice, getJSON).
func (c *hostCluster) api(id string) *host {
	h := c.hosts[id]
	return &host{t: c.t, addr: h.addr, dataDir: h.dataDir, env: c.env}
}

// singletonState is a plugin's state and the host that runs it, as host
// id's /health/plugins says.
func (c *hostCluster) singletonState(id, plugin string) (state, runsOn string) {
	c.t.Helper()
	var body struct {
		Plugins []struct {
			Name   string `json:"name"`
			State  string `json:"state"`
			RunsOn string `json:"runs_on"`
		} `json:"plugins"`
	}
	resp, err := http.Get("http://" + c.hosts[id].addr + "/health/plugins")
	if err != nil {
		return "unreachable", ""
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "unreadable", ""
	}
	for _, p := range body.Plugins {
		if p.Name == plugin {
			return p.State, p.RunsOn
		}
	}
	return "absent", ""
}

// jobsOf lists the jobs of a kind in the cluster's database: state, queue
// and the hosts that attempted each (River's attempted_by: client ids,
// which are host ids).
func (c *hostCluster) jobsOf(st *store.Store, kind string) []string {
	c.t.Helper()
	rows, err := st.Q().DB().Query(context.Background(),
		"SELECT state, queue, COALESCE(array_to_string(attempted_by, ','), '') FROM river_job WHERE kind = ? ORDER BY id", kind)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var state, queue, by string
		if err := rows.Scan(&state, &queue, &by); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, state+" "+queue+" "+by)
	}
	return out
}

// singletonPlugins is what each host of the singleton tests runs:
// payment-manual (on every host) and notify-fake, marked singleton.
func singletonPlugins(t *testing.T) func(string, *testenv.PluginDir) {
	return func(_ string, d *testenv.PluginDir) {
		d.AddBundled("payment-manual")
		d.Add(testenv.Plugin{
			Name: "notify-fake", Kind: "notify", Executable: testenv.NotifyFake(t),
			Manifest: map[string]any{
				"singleton": true,
				"routes":    []map[string]any{{"method": "POST", "path": "/scan", "auth": "operator"}},
			},
		})
	}
}

// pairFake pairs notify-fake's session "main" through host h (which runs
// it): the pairing's QR code, "scanned" on the plugin's route, connects it.
func pairFake(t *testing.T, h *host, tok string) {
	t.Helper()
	var paired struct {
		Session struct {
			Pairing *struct {
				QRCode string `json:"qr_code"`
			} `json:"pairing"`
		} `json:"session"`
	}
	if code, raw := h.api(http.MethodPost, "/api/v1/messaging/notify-fake/sessions/main/pair", tok, nil, &paired); code != http.StatusOK || paired.Session.Pairing == nil {
		t.Fatalf("pair on %s: %d %s", h.addr, code, raw)
	}
	if code, raw := h.api(http.MethodPost, "/plugins/notify-fake/scan", tok, map[string]string{"session": "main", "code": paired.Session.Pairing.QRCode}, nil); code != http.StatusOK {
		t.Fatalf("scan on %s: %d %s", h.addr, code, raw)
	}
	sdktest.WaitFor(t, 20*time.Second, "session main connected", func() bool {
		var s struct {
			Session struct {
				Status string `json:"status"`
			} `json:"session"`
		}
		h.api(http.MethodGet, "/api/v1/messaging/notify-fake/sessions/main", tok, nil, &s)
		return s.Session.Status == "connected"
	})
}

// payAndConfirm pays invoice inv through h with payment-manual and
// confirms it there: the invoice is paid, and its receipt message is a
// notify job, inserted by h.
func payAndConfirm(t *testing.T, h *host, tok string, inv int64) {
	t.Helper()
	var started payStarted
	if code, raw := h.api(http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv), tok, map[string]any{"gateway": "payment-manual"}, &started); code != http.StatusOK {
		t.Fatalf("pay invoice %d: %d %s", inv, code, raw)
	}
	if code, raw := h.api(http.MethodPost, "/plugins/payment-manual/payments/"+started.Payment.ID+"/confirm", tok, nil, nil); code != http.StatusOK {
		t.Fatalf("confirm payment %s: %d %s", started.Payment.ID, code, raw)
	}
}

// TestSingletonPluginRunsOnOneHost: two hosts on one PostgreSQL, each with
// notify-fake marked singleton. It runs on the first host only; the
// other reports it running there (not failed, and ready); a message sent
// through the other host is worked on the one that runs it; `plugin
// status` names that host. SIGKILL that host: the plugin runs on the
// other within seconds, and a message sent through it is worked there.
// Started again, the first host leaves it where it is; when the second
// stops cleanly, its lease is released and the first takes over at once.
func TestSingletonPluginRunsOnOneHost(t *testing.T) {
	c := startHostCluster(t, `server {
  heartbeat_interval = "1s"
}
notifications {
  plugin = "notify-fake"
}
`, singletonPlugins(t), "host-a")
	sdktest.WaitFor(t, 20*time.Second, "notify-fake runs on host-a", func() bool {
		st, on := c.singletonState("host-a", "notify-fake")
		return st == "running" && on == "host-a"
	})
	c.start("host-b")
	if st, on := c.singletonState("host-b", "notify-fake"); st != "elsewhere" || on != "host-a" {
		t.Fatalf("host-b's notify-fake: %s on %q; want elsewhere, on host-a", st, on)
	}
	b := c.api("host-b")
	if code, body := b.get("/ready"); code != http.StatusOK {
		t.Errorf("host-b's /ready with the singleton on host-a: %d %s", code, body)
	}
	tok := b.adminToken()

	// plugin status on host-b names the host that runs it.
	statusShows := func(addr, self, holder string) {
		t.Helper()
		local := regexp.MustCompile(`(?m)^notify-fake\s+\S+\s+elsewhere \(` + holder + `\)`)
		if self == holder {
			local = regexp.MustCompile(`(?m)^notify-fake\s+\S+\s+running\s`)
		}
		table := regexp.MustCompile(`(?m)^notify-fake\s+` + holder + `\s+\d{4}-`)
		var stdout string
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, out, stderr := run(t, "plugin", "status", "--address", addr, "--token", tok)
			stdout = out
			if code == 0 && local.MatchString(stdout) && table.MatchString(stdout) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("plugin status on %s does not show notify-fake on %s: exit %d\n%s\n%s", self, holder, code, stdout, stderr)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	statusShows("http://"+b.addr, "host-b", "host-a")

	// A call for it on host-b says where it runs.
	var refused struct {
		Error string `json:"error"`
	}
	if code, raw := b.api(http.MethodGet, "/api/v1/messaging/notify-fake/sessions/main", tok, nil, &refused); code != http.StatusServiceUnavailable || !strings.Contains(string(raw), `runs on host \"host-a\"`) {
		t.Errorf("a session read on host-b: %d %s; want 503 naming host-a", code, raw)
	}
	if code, raw := b.api(http.MethodPost, "/plugins/notify-fake/scan", tok, map[string]string{"session": "main", "code": "x"}, nil); code != http.StatusServiceUnavailable || !strings.Contains(string(raw), `runs on host \"host-a\"`) {
		t.Errorf("the plugin's route on host-b: %d %s; want 503 naming host-a", code, raw)
	}

	// A message caused through host-b is worked on host-a.
	pairFake(t, c.api("host-a"), tok)
	first := b.payNewInvoice(tok, "payment-manual")
	if code, raw := b.api(http.MethodPost, "/plugins/payment-manual/payments/"+first.Payment.ID+"/confirm", tok, nil, nil); code != http.StatusOK {
		t.Fatalf("confirm: %d %s", code, raw)
	}
	db := storetest.PostgresAt(t, strings.TrimPrefix(c.env[0], "DATABASE_URL="))
	// doneOn waits until the notify jobs after the first since (the
	// invoice's and the payment's messages) are completed, each last
	// attempted by host (which sent it); it returns how many there are.
	doneOn := func(host string, since int) int {
		t.Helper()
		var jobs []string
		sdktest.WaitFor(t, 30*time.Second, "the new notify jobs completed on "+host, func() bool {
			jobs = c.jobsOf(db, "notify")
			if len(jobs) <= since {
				return false
			}
			for _, j := range jobs[since:] {
				if !strings.HasPrefix(j, "completed ") {
					return false
				}
			}
			return true
		})
		for _, j := range jobs[since:] {
			f := strings.Fields(j)
			by := strings.Split(f[len(f)-1], ",")
			if by[len(by)-1] != host {
				t.Errorf("job %q was completed by %s, want %s", j, by[len(by)-1], host)
			}
			// A host that does not run the plugin may have fetched the job
			// first: it moved it to the plugin's queue and sent nothing.
			if len(by) > 1 && f[1] != "singleton_notify-fake" {
				t.Errorf("job %q was attempted by two hosts but not moved to the plugin's queue", j)
			}
		}
		t.Logf("notify jobs (state, queue, attempted by): %q", jobs)
		return len(jobs)
	}
	n := doneOn("host-a", 0)

	// host-a dies: host-b runs the plugin within seconds.
	c.kill("host-a")
	killed := time.Now()
	sdktest.WaitFor(t, 20*time.Second, "notify-fake runs on host-b", func() bool {
		st, on := c.singletonState("host-b", "notify-fake")
		return st == "running" && on == "host-b"
	})
	t.Logf("notify-fake ran on host-b %s after host-a was killed (gone after 4s at a 1s heartbeat)", time.Since(killed).Round(time.Millisecond))
	statusShows("http://"+b.addr, "host-b", "host-b")

	// A message through host-b now is worked there (its session is paired
	// again here: notify-fake keeps its sessions in memory).
	pairFake(t, b, tok)
	var inv store.Invoice
	if code, raw := b.api(http.MethodPost, "/api/v1/invoices", tok, map[string]any{"customer_id": first.Invoice.CustomerID, "plan_id": first.Invoice.PlanID}, &inv); code != http.StatusCreated {
		t.Fatalf("second invoice: %d %s", code, raw)
	}
	payAndConfirm(t, b, tok, inv.ID)
	doneOn("host-b", n)

	// host-a again: it leaves the plugin on host-b. host-b stops cleanly
	// (it stops the plugin, then releases the lease): host-a takes over.
	c.start("host-a")
	if st, on := c.singletonState("host-a", "notify-fake"); st != "elsewhere" || on != "host-b" {
		t.Fatalf("host-a started again: notify-fake %s on %q; want elsewhere, on host-b", st, on)
	}
	c.stop("host-b")
	stopped := time.Now()
	sdktest.WaitFor(t, 20*time.Second, "notify-fake runs on host-a", func() bool {
		st, on := c.singletonState("host-a", "notify-fake")
		return st == "running" && on == "host-a"
	})
	t.Logf("notify-fake ran on host-a %s after host-b stopped", time.Since(stopped).Round(time.Millisecond))
}

// TestSingletonOnSQLite: on the embedded SQLite database there is one
// host, which holds every singleton plugin's lease: the plugin runs, and
// the host says it runs it.
func TestSingletonOnSQLite(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "solo", Manifest: map[string]any{"singleton": true}})
	h := startHost(t, d.Dir, "MIKROBILL_HOST_ID=only-host")
	var body struct {
		Plugins []struct {
			Name      string `json:"name"`
			State     string `json:"state"`
			Singleton bool   `json:"singleton"`
			RunsOn    string `json:"runs_on"`
		} `json:"plugins"`
	}
	h.getJSON("/health/plugins", &body)
	if len(body.Plugins) != 1 || body.Plugins[0].State != "running" || !body.Plugins[0].Singleton || body.Plugins[0].RunsOn != "only-host" {
		t.Fatalf("plugins: %+v; want solo running on only-host", body.Plugins)
	}
	var v struct {
		Singletons []struct {
			Plugin string `json:"plugin"`
			HostID string `json:"host_id"`
			Live   bool   `json:"live"`
		} `json:"singletons"`
	}
	if code, raw := h.api(http.MethodGet, "/api/v1/hosts", h.adminToken(), nil, &v); code != http.StatusOK || len(v.Singletons) != 1 ||
		v.Singletons[0].Plugin != "solo" || v.Singletons[0].HostID != "only-host" || !v.Singletons[0].Live {
		t.Fatalf("GET /api/v1/hosts: %d %s", code, raw)
	}
}
