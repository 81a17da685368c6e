package cli

// The audit trail end to end, with the real audit plugin (plugins/audit)
// built into a plugin directory: changes made through the API reach the
// plugin's log; a secret saved through the API never reaches its bytes;
// killed, the plugin leaves the actions working, /health counts the
// backlog, and it drains with nothing doubled; `mikrobill audit verify`,
// `prove` and `verify-proof` with their exit codes; and the daily
// verification (run as the host starts) reports a tampered log and a log
// file rolled back to an older copy in /health.

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// auditHealthBody is /health's audit object.
type auditHealthBody struct {
	Status string `json:"status"`
	Audit  *struct {
		Status       string `json:"status"`
		Message      string `json:"message"`
		Backlog      int64  `json:"backlog"`
		Behind       bool   `json:"behind"`
		LagSeconds   int64  `json:"lag_seconds"`
		Verification *struct {
			OK               bool   `json:"ok"`
			Reason           string `json:"reason"`
			FirstBadSequence uint64 `json:"first_bad_sequence"`
			FirstBadEventID  string `json:"first_bad_event_id"`
			Checked          uint64 `json:"checked"`
		} `json:"verification"`
		KeyFingerprint string `json:"key_fingerprint"`
	} `json:"audit"`
}

// auditItems is GET /api/v1/audit's answer, as far as these tests read it.
type auditItems struct {
	Source string `json:"source"`
	Items  []struct {
		EventID  string `json:"event_id"`
		Action   string `json:"action"`
		Sequence uint64 `json:"sequence"`
	} `json:"items"`
}

// auditConfig writes a configuration file for the audit tests: any event
// waiting counts as behind, and a plugin restart slow enough to watch the
// backlog.
func auditConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mikrobill.hcl")
	hcl := `audit {
  max_lag = "1ms"
}
plugin "audit" {
  restart {
    initial_backoff = "4s"
    max_backoff     = "4s"
  }
}
`
	if err := os.WriteFile(path, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// makePlans creates n plans through the API, each an audited change.
func makePlans(t *testing.T, h *host, tok string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		body := map[string]any{"name": fmt.Sprintf("Plan %d", i), "kind": "pppoe", "rate_limit": "5M/10M", "shared_users": 1,
			"validity_seconds": 30 * 86400, "price": 150000, "currency": "IDR", "active": true}
		if code, raw := h.api(http.MethodPost, "/api/v1/plans", tok, body, nil); code != http.StatusCreated {
			t.Fatalf("POST /api/v1/plans: %d %s", code, raw)
		}
	}
}

// pluginEvents reads the event ids of the plugin's log, in sequence order,
// from its SQLite file.
func pluginEvents(t *testing.T, dataDir string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "plugins", "audit", "audit.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT id FROM events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// waitUntil polls cond for up to a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// auditHealth reads /health's audit object.
func (h *host) auditHealth() auditHealthBody {
	h.t.Helper()
	var b auditHealthBody
	h.getJSON("/health", &b)
	return b
}

// auditEvents waits until the audit plugin answers GET /api/v1/audit with
// at least n events, and returns them (newest first).
func (h *host) auditEvents(tok string, n int) auditItems {
	h.t.Helper()
	var got auditItems
	waitUntil(h.t, fmt.Sprintf("%d events in the audit plugin's log", n), func() bool {
		got = auditItems{}
		code, _ := h.api(http.MethodGet, "/api/v1/audit?limit=500", tok, nil, &got)
		return code == http.StatusOK && got.Source == "plugin" && len(got.Items) >= n
	})
	return got
}

func TestAuditTrailThroughTheHost(t *testing.T) {
	d := testenv.NewPluginDir(t)
	d.AddBundled("audit")
	d.AddBundled("payment-manual")
	conf := auditConfig(t)
	data := filepath.Join(t.TempDir(), "data")
	h := startHostIn(t, d.Dir, data, "MIKROBILL_CONFIG="+conf)
	tok := h.adminToken()

	// Changes through the API reach the plugin's log.
	makePlans(t, h, tok, 0, 5)
	// A secret setting, saved through the API (which audits the save).
	const secret = "s3cret-never-in-the-audit-log-42"
	if code, raw := h.api(http.MethodPut, "/api/v1/plugin-settings/payment-manual", tok,
		map[string]any{"confirm_secret": secret, "currencies": []string{"IDR"}}, nil); code != http.StatusOK {
		t.Fatalf("PUT plugin-settings: %d %s", code, raw)
	}
	// Six events or more: the five plans and the save, and the periodic
	// verification's own event (audit.verified) may come before the save.
	var got auditItems
	saved := func() bool {
		got = h.auditEvents(tok, 6)
		for _, it := range got.Items {
			if it.Action == "plugin_settings.saved" && it.Sequence > 0 {
				return true
			}
		}
		return false
	}
	ok := saved()
	for deadline := time.Now().Add(20 * time.Second); !ok && time.Now().Before(deadline); ok = saved() {
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		t.Errorf("the plugin's log has no plugin_settings.saved: %+v", got.Items)
	}
	// The drainer marks a batch delivered after the plugin took it: the
	// plugin may list the events a moment before the host's backlog is 0.
	var idle auditHealthBody
	waitUntil(t, "the host's audit backlog to empty", func() bool {
		idle = h.auditHealth()
		return idle.Audit != nil && idle.Audit.Backlog == 0
	})
	if idle.Audit.Status != "healthy" || idle.Audit.Behind {
		t.Errorf("/health audit with nothing waiting: %+v", idle.Audit)
	}
	var cp struct {
		Size           uint64 `json:"size"`
		PublicKey      []byte `json:"public_key"`
		KeyFingerprint string `json:"key_fingerprint"`
		Trusted        bool   `json:"trusted"`
	}
	if code, raw := h.api(http.MethodGet, "/api/v1/audit/checkpoint?take=true", tok, nil, &cp); code != http.StatusOK || cp.Size < 6 || !cp.Trusted || !strings.HasPrefix(cp.KeyFingerprint, "SHA256:") {
		t.Fatalf("GET /api/v1/audit/checkpoint: %d %s", code, raw)
	}
	// The export ends with the checkpoint it ends at.
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.addr+"/api/v1/audit/export?format=jsonl", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var exported bytes.Buffer
	_, _ = exported.ReadFrom(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(exported.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, `{"checkpoint":`) || resp.Trailer.Get("X-Audit-Checkpoint") == "" {
		t.Errorf("the export does not end with its checkpoint: last line %s, trailer %q", last, resp.Trailer.Get("X-Audit-Checkpoint"))
	}

	// Killed, the plugin cannot take events: changes still complete,
	// /health counts the backlog, and it drains, nothing doubled.
	pid := h.pluginPID("audit")
	if pid == 0 {
		t.Fatal("the audit plugin does not run")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the plugin seen down", func() bool { return h.pluginPID("audit") != pid })
	makePlans(t, h, tok, 5, 10)
	var behind auditHealthBody
	waitUntil(t, "/health reporting the audit trail behind", func() bool {
		behind = h.auditHealth()
		return behind.Audit != nil && behind.Audit.Behind && behind.Audit.Backlog > 0
	})
	if behind.Audit.Status != "degraded" || behind.Status != "degraded" || !strings.Contains(behind.Audit.Message, "events wait for the audit plugin") {
		t.Errorf("/health while the plugin is down: %s / %+v", behind.Status, behind.Audit)
	}
	waitUntil(t, "the backlog drained", func() bool {
		b := h.auditHealth()
		return h.pluginPID("audit") != 0 && b.Audit != nil && b.Audit.Backlog == 0
	})
	h.auditEvents(tok, 16)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	ids := pluginEvents(t, data)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("event %s is in the plugin's log twice", id)
		}
		seen[id] = true
	}
	if len(ids) < 16 {
		t.Errorf("the plugin's log holds %d events, want at least 16", len(ids))
	}

	// No secret in the plugin's stored bytes.
	files, _ := filepath.Glob(filepath.Join(data, "plugins", "audit", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret setting", f)
		}
	}

	// The CLI: verify, prove, verify-proof.
	env := []string{"MIKROBILL_CONFIG=" + conf, "MIKROBILL_PLUGIN_DIR=" + d.Dir, "MIKROBILL_DATA_DIR=" + data}
	if code, out, errs := runEnv(t, env, "audit", "verify"); code != 0 || !strings.Contains(out, "result:      sound") || !strings.Contains(out, "held to:     the host's pinned key") {
		t.Fatalf("audit verify on a sound log: %d\n%s%s", code, out, errs)
	}
	code2, proofJSON, errs := runEnv(t, env, "audit", "prove", ids[2])
	if code2 != 0 {
		t.Fatalf("audit prove: %d %s", code2, errs)
	}
	proof := filepath.Join(t.TempDir(), "event.proof.json")
	if err := os.WriteFile(proof, []byte(proofJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(cp.PublicKey)
	for _, k := range []string{key, cp.KeyFingerprint} {
		if code, out, errs := runEnv(t, nil, "audit", "verify-proof", proof, "--public-key", k); code != 0 || !strings.HasPrefix(out, "valid: event "+ids[2]) {
			t.Errorf("verify-proof with %s: %d %s%s", k, code, out, errs)
		}
	}
	// Another key, or a changed proof: not valid (2).
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if code, out, _ := runEnv(t, nil, "audit", "verify-proof", proof, "--public-key", other); code != 2 || !strings.HasPrefix(out, "NOT VALID") {
		t.Errorf("verify-proof with another key: %d %s", code, out)
	}
	var pf map[string]any
	if err := json.Unmarshal([]byte(proofJSON), &pf); err != nil {
		t.Fatal(err)
	}
	pf["event"].(map[string]any)["actor"] = "user:someone-else"
	changed, _ := json.Marshal(pf)
	tampered := filepath.Join(t.TempDir(), "tampered.proof.json")
	if err := os.WriteFile(tampered, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runEnv(t, nil, "audit", "verify-proof", tampered, "--public-key", key); code != 2 || !strings.Contains(out, "NOT VALID") {
		t.Errorf("verify-proof of a changed event: %d %s", code, out)
	}
	if code, _, errs := runEnv(t, nil, "audit", "verify-proof", proof); code != 1 || !strings.Contains(errs, "--public-key is required") {
		t.Errorf("verify-proof without a key: %d %s", code, errs)
	}
	if code, out, _ := runEnv(t, env, "plugin", "inspect", "audit"); code != 0 || !strings.Contains(out, "fingerprint:      "+cp.KeyFingerprint) || !strings.Contains(out, "pinned by host:   "+cp.KeyFingerprint) {
		t.Errorf("plugin inspect audit shows no key:\n%s", out)
	}

	// Rolled back: keep a copy of the plugin's log now, record more, let
	// the host see a larger checkpoint, then swap the copy in.
	backup := filepath.Join(t.TempDir(), "audit-backup")
	copyDir(t, filepath.Join(data, "plugins", "audit"), backup)
	h = startHostIn(t, d.Dir, data, "MIKROBILL_CONFIG="+conf)
	makePlans(t, h, tok, 15, 3)
	h.auditEvents(tok, 19)
	if code, raw := h.api(http.MethodGet, "/api/v1/audit/checkpoint?take=true", tok, nil, &cp); code != http.StatusOK || cp.Size < 19 {
		t.Fatalf("checkpoint: %d %s", code, raw)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	current := filepath.Join(t.TempDir(), "audit-current")
	copyDir(t, filepath.Join(data, "plugins", "audit"), current)
	replaceDir(t, backup, filepath.Join(data, "plugins", "audit"))
	if code, out, _ := runEnv(t, env, "audit", "verify"); code != 2 || !strings.Contains(out, "NOT SOUND: rollback") {
		t.Errorf("audit verify on a rolled-back log: %d\n%s", code, out)
	}
	h = startHostIn(t, d.Dir, data, "MIKROBILL_CONFIG="+conf)
	var rolled auditHealthBody
	waitUntil(t, "the verification on start reporting the rollback", func() bool {
		rolled = h.auditHealth()
		return rolled.Audit != nil && rolled.Audit.Verification != nil && !rolled.Audit.Verification.OK
	})
	if v := rolled.Audit.Verification; v.Reason != "rollback" || rolled.Audit.Status != "unhealthy" || !strings.Contains(rolled.Audit.Message, `reason "rollback"`) {
		t.Errorf("/health after a rollback: %s %+v %+v", rolled.Status, rolled.Audit, v)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	// Tampered: the current log back, one event's row edited.
	replaceDir(t, current, filepath.Join(data, "plugins", "audit"))
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "plugins", "audit", "audit.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE events SET actor = 'user:nobody' WHERE id = ?", ids[3]); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, out, _ := runEnv(t, env, "audit", "verify"); code != 2 || !strings.Contains(out, "NOT SOUND") || !strings.Contains(out, "event 4") {
		t.Errorf("audit verify on an edited log: %d\n%s", code, out)
	}
	h = startHostIn(t, d.Dir, data, "MIKROBILL_CONFIG="+conf)
	var edited auditHealthBody
	waitUntil(t, "the verification on start reporting the edit", func() bool {
		edited = h.auditHealth()
		return edited.Audit != nil && edited.Audit.Verification != nil && !edited.Audit.Verification.OK && edited.Audit.Verification.Reason != "rollback"
	})
	if v := edited.Audit.Verification; v.FirstBadSequence != 4 || v.FirstBadEventID != ids[3] || edited.Audit.Status != "unhealthy" {
		t.Errorf("/health after an edit: %+v %+v", edited.Audit, v)
	}
}

// copyDir copies the files of src (not its subfolders) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			testenv.CopyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
		}
	}
}

// replaceDir makes dst hold exactly the files of src.
func replaceDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, _ := os.ReadDir(dst)
	for _, e := range entries {
		if e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dst, e.Name()))
		}
	}
	copyDir(t, src, dst)
}
