package cli

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/testenv"
	"github.com/mikrobill/mikrobill/sdk/client"
)

// TestTemplateBuiltOutsideTheRepository is what a payment company does with
// plugins/payment-template, against a host binary that exists before their
// plugin does: the template is copied out of the repository, renamed to a
// module of their own, built with GOWORK=off against the SDK module (a
// replace to a checkout, as docs/writing-a-payment-plugin.md says),
// installed with its manifest into a fresh plugin directory, locked with
// the host's own `mikrobill plugin lock`, and loaded by the host. The host
// then routes webhooks to it, and a payment made through the plugin at a
// fake Example Pay credits an invoice. The host is never rebuilt.
func TestTemplateBuiltOutsideTheRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the host and a plugin; skipped with -short")
	}
	// 1. The host, built first.
	bin := testenv.Build(t, "host/cmd/mikrobill")
	hostSum, err := client.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}

	// 2. The template, copied outside the repository into a module of the
	// integrator's own.
	repo, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if rel, err := filepath.Rel(repo, work); err == nil && !strings.HasPrefix(rel, "..") {
		t.Fatalf("the temporary directory %s is inside the repository %s; the test would prove nothing", work, repo)
	}
	src := filepath.Join(work, "payment-acme")
	copyTree(t, filepath.Join(repo, "plugins", "payment-template"), src)
	gomod := filepath.Join(src, "go.mod")
	raw, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	moduleLine := regexp.MustCompile(`(?m)^module github\.com/mikrobill/mikrobill/plugins/payment-template$`)
	replaceLine := regexp.MustCompile(`(?m)^replace github\.com/mikrobill/mikrobill/sdk => \S+$`)
	if len(moduleLine.FindAll(raw, -1)) != 1 || len(replaceLine.FindAll(raw, -1)) != 1 {
		t.Fatalf("the template's go.mod is not what this test expects (its module line and one replace of the sdk):\n%s", raw)
	}
	mod := moduleLine.ReplaceAllString(string(raw), "module example.com/acme/payment-acme")
	mod = replaceLine.ReplaceAllString(mod, "replace github.com/mikrobill/mikrobill/sdk => "+filepath.Join(repo, "sdk"))
	if err := os.WriteFile(gomod, []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}

	// 3. Built with GOWORK=off into a fresh plugin directory, beside its
	// manifest.
	pluginDir := filepath.Join(work, "plugins")
	installed := filepath.Join(pluginDir, "payment-template")
	if err := os.MkdirAll(installed, 0o755); err != nil {
		t.Fatal(err)
	}
	// The guide's command, flags and all.
	build := exec.Command("go", "build", "-ldflags", "-s -w", "-o", filepath.Join(installed, "mikrobill-plugin-payment-template"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOWORK=off go build in the copy: %v\n%s", err, out)
	}
	testenv.CopyFile(t, filepath.Join(src, "plugin.json"), filepath.Join(installed, "plugin.json"))

	// 4. Checked and locked by the host binary.
	dataDir := filepath.Join(work, "cli-data")
	if out, err := runBinary(t, bin, "", "plugin", "validate", installed); err != nil || !strings.HasPrefix(out, "ok: payment-template 0.1.0 (payment)") {
		t.Fatalf("mikrobill plugin validate: %v\n%s", err, out)
	}
	out, err := runBinary(t, bin, "", "plugin", "lock", "--plugin-dir", pluginDir, "--data-dir", dataDir)
	if err != nil || !regexp.MustCompile(`(?m)^new\s+payment-template 0\.1\.0 folder:[0-9a-f]{16} \(2 files\)$`).MatchString(out) {
		t.Fatalf("mikrobill plugin lock: %v\n%s", err, out)
	}

	// 5. Loaded by the host.
	h := startRealHost(t, pluginDir)
	var plugins pluginsBody
	outsideCall(t, h.addr, http.MethodGet, "/health/plugins", "", nil, &plugins)
	if len(plugins.Plugins) != 1 || plugins.Plugins[0].Name != "payment-template" || plugins.Plugins[0].State != "running" || plugins.Plugins[0].PID == 0 {
		t.Fatalf("/health/plugins: %+v; want payment-template running", plugins)
	}
	if p := plugins.Plugins[0]; p.Health != "degraded" || !strings.Contains(p.Message, "not configured") {
		t.Errorf("payment-template before its settings: health %q %q; want degraded, not configured", p.Health, p.Message)
	}

	// 6. Configured through the API, pointed at a fake Example Pay.
	ep := newExamplePay(t)
	const secret = "whsec_outside_build_0123456789"
	tok := outsideToken(t, bin, h.dataDir)
	settings := map[string]any{"api_key": ep.key, "webhook_secret": secret, "base_url": ep.srv.URL, "timeout_seconds": 5}
	if code, body := outsideCall(t, h.addr, http.MethodPut, "/api/v1/plugin-settings/payment-template", tok, settings, nil); code != http.StatusOK || !strings.Contains(string(body), `"api_key": "<redacted>"`) {
		t.Fatalf("save settings: %d %s", code, body)
	}
	if out, err := runBinary(t, bin, "", "plugin", "status", "--address", "http://"+h.addr); err != nil || !regexp.MustCompile(`(?m)^payment-template\s+0\.1\.0\s+running\s`).MatchString(out) {
		t.Errorf("mikrobill plugin status: %v\n%s", err, out)
	}

	// 7. The host routes webhooks to it: a bad signature gets the plugin's
	// own refusal.
	note := func(eventID string, p examplePayment) []byte {
		body, _ := json.Marshal(map[string]any{"id": eventID, "type": "payment.paid", "created_at": time.Now().UTC().Format(time.RFC3339), "data": p})
		return body
	}
	post := func(body []byte, signature string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr+"/webhooks/payment-template", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Example-Signature", signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	forged := note("evt_forged", examplePayment{ID: "pay_x", OrderID: "INV-X", Amount: 150000, Currency: "IDR", Status: "paid"})
	if code, body := post(forged, exampleSign(forged, "whsec_not_the_secret_000000", time.Now())); code != http.StatusUnauthorized ||
		!strings.Contains(body, "no v1 signature matches the body") {
		t.Fatalf("forged webhook: %d %s; want 401 with the template's refusal", code, body)
	}

	// 8. The whole flow: an invoice paid through the plugin.
	tpl := payStarted{}
	inv := outsideInvoice(t, h.addr, tok, &tpl)
	if tpl.Payment.ID == "" || tpl.Payment.Status != "pending" || tpl.Payment.Amount != 150000 {
		t.Fatalf("pay answered %+v", tpl.Payment)
	}
	created := ep.get(tpl.Payment.ID)
	// (The host's public_url defaults to the configured address, port 0
	// here, so only the path is checked.)
	if created == nil || created.OrderID != inv.Number || !strings.HasSuffix(created.callbackURL, "/webhooks/payment-template") {
		t.Fatalf("Example Pay has %+v for payment %s; want invoice %s with the host's webhook URL", created, tpl.Payment.ID, inv.Number)
	}
	paid := ep.markPaid(tpl.Payment.ID)
	body := note("evt_paid_1", paid)
	sig := exampleSign(body, secret, time.Now())
	if code, got := post(body, sig); code != http.StatusOK || got != `{"received":true}` {
		t.Fatalf("paid webhook: %d %s; want the template's 200 {\"received\":true}", code, got)
	}
	// A repeat is the plugin's duplicate of an event the host has applied:
	// the plugin's own answer again.
	if code, got := post(body, sig); code != http.StatusOK || got != `{"received":true}` {
		t.Errorf("repeated webhook: %d %s; want the template's 200 {\"received\":true} again", code, got)
	}
	var after struct {
		Invoice  store.Invoice   `json:"invoice"`
		Payments []store.Payment `json:"payments"`
	}
	if code, raw := outsideCall(t, h.addr, http.MethodGet, fmt.Sprintf("/api/v1/invoices/%d", inv.ID), tok, nil, &after); code != http.StatusOK ||
		after.Invoice.Status != store.InvoicePaid || len(after.Payments) != 1 || after.Payments[0].Status != store.PaymentPaid || after.Payments[0].ExternalID != tpl.Payment.ID {
		t.Fatalf("invoice after the webhook: %d %s", code, raw)
	}

	// 9. Still the binary built at the start.
	if sum, err := client.FileSHA256(bin); err != nil || !bytes.Equal(sum, hostSum) {
		t.Errorf("the host binary changed during the test (%v): it must not be rebuilt", err)
	}
}

// copyTree copies the regular files under src to dst, leaving out
// executables (a `go build` in the folder leaves one behind).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 != 0 {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, raw, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// runBinary runs the mikrobill binary and returns its standard output (and
// its standard error, when it fails).
func runBinary(t *testing.T, bin, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "JWT_SECRET=not-for-plugins"}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// outsideToken creates an admin with the binary and returns an API token.
func outsideToken(t *testing.T, bin, dataDir string) string {
	t.Helper()
	if out, err := runBinary(t, bin, "correct horse battery\n", "user", "create", "--data-dir", dataDir, "--username", "admin", "--role", "admin", "--password-stdin"); err != nil {
		t.Fatalf("mikrobill user create: %v\n%s", err, out)
	}
	out, err := runBinary(t, bin, "", "user", "token", "--data-dir", dataDir, "--username", "admin")
	if err != nil {
		t.Fatalf("mikrobill user token: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

// outsideCall sends a JSON request to the host and decodes a 2xx answer
// into out.
func outsideCall(t *testing.T, addr, method, path, token string, body, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: not JSON (%v): %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, raw
}

// outsideInvoice creates a location, plan, customer and invoice through the
// API and starts paying it with payment-template.
func outsideInvoice(t *testing.T, addr, tok string, started *payStarted) store.Invoice {
	t.Helper()
	var loc, plan, cust struct {
		ID int64 `json:"id"`
	}
	create := func(path string, body map[string]any, out any) {
		t.Helper()
		if code, raw := outsideCall(t, addr, http.MethodPost, path, tok, body, out); code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, code, raw)
		}
	}
	create("/api/v1/locations", map[string]any{"name": "main", "plugin": "mikrotik"}, &loc)
	create("/api/v1/plans", map[string]any{"name": "Home 10M", "kind": "pppoe", "rate_limit": "5M/10M", "shared_users": 1,
		"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true}, &plan)
	create("/api/v1/customers", map[string]any{"name": "Budi", "phone": "+6281234567890", "router_username": "budi",
		"router_password": "rahasia-123", "location_id": loc.ID}, &cust)
	var inv store.Invoice
	if code, raw := outsideCall(t, addr, http.MethodPost, "/api/v1/invoices", tok, map[string]any{"customer_id": cust.ID, "plan_id": plan.ID}, &inv); code != http.StatusCreated {
		t.Fatalf("POST /api/v1/invoices: %d %s", code, raw)
	}
	if code, raw := outsideCall(t, addr, http.MethodPost, fmt.Sprintf("/api/v1/invoices/%d/pay", inv.ID), tok, map[string]any{"gateway": "payment-template"}, started); code != http.StatusOK {
		t.Fatalf("pay with payment-template: %d %s", code, raw)
	}
	return inv
}

// examplePay is Example Pay's API as the template's README specifies it,
// reduced to what this test needs. The test is in another module than the
// template, so it cannot use the template's own fake.
type examplePay struct {
	srv *httptest.Server
	key string

	mu       sync.Mutex
	payments map[string]*examplePayment
	keys     map[string]string // Idempotency-Key -> payment id

	statusQueries atomic.Int64 // GET /v1/payments/{id} answered
}

type examplePayment struct {
	ID          string `json:"id"`
	OrderID     string `json:"order_id"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	Status      string `json:"status"`
	CheckoutURL string `json:"checkout_url,omitempty"`
	CreatedAt   string `json:"created_at,omitempty"`
	callbackURL string
}

func newExamplePay(t testing.TB) *examplePay {
	t.Helper()
	ep := &examplePay{key: "ek_test_outside_build", payments: map[string]*examplePayment{}, keys: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payments", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			OrderID     string `json:"order_id"`
			Amount      int64  `json:"amount"`
			Currency    string `json:"currency"`
			CallbackURL string `json:"callback_url"`
		}
		key := r.Header.Get("Idempotency-Key")
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || key == "" || in.OrderID == "" || in.Amount <= 0 {
			exampleJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "invalid_request", "message": "bad request"}})
			return
		}
		ep.mu.Lock()
		defer ep.mu.Unlock()
		if id, ok := ep.keys[key]; ok {
			exampleJSON(w, http.StatusOK, ep.payments[id])
			return
		}
		var b [6]byte
		_, _ = rand.Read(b[:])
		p := &examplePayment{ID: "pay_" + hex.EncodeToString(b[:]), OrderID: in.OrderID, Amount: in.Amount, Currency: in.Currency,
			Status: "pending", CreatedAt: time.Now().UTC().Format(time.RFC3339), callbackURL: in.CallbackURL}
		p.CheckoutURL = ep.srv.URL + "/checkout/" + p.ID
		ep.payments[p.ID], ep.keys[key] = p, p.ID
		exampleJSON(w, http.StatusCreated, p)
	})
	mux.HandleFunc("GET /v1/payments/{id}", func(w http.ResponseWriter, r *http.Request) {
		ep.statusQueries.Add(1)
		if p := ep.get(r.PathValue("id")); p != nil {
			exampleJSON(w, http.StatusOK, p)
			return
		}
		exampleJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": "not_found", "message": "no such payment"}})
	})
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+ep.key {
			exampleJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": "unauthorized", "message": "invalid API key"}})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *examplePay) get(id string) *examplePayment {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if p, ok := ep.payments[id]; ok {
		c := *p
		return &c
	}
	return nil
}

func (ep *examplePay) markPaid(id string) examplePayment {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	p := ep.payments[id]
	p.Status = "paid"
	return *p
}

func exampleJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// exampleSign is Example Pay's Example-Signature header for body.
func exampleSign(body []byte, secret string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
