package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func get(t *testing.T, l *Log, route, rawQuery string) (*sdk.HandleHTTPResponse, error) {
	t.Helper()
	return l.HandleHTTP(context.Background(), &sdk.HandleHTTPRequest{Route: route, Request: sdk.HTTPRequest{Method: "GET", Path: route, RawQuery: rawQuery}})
}

// readExport parses a JSON Lines export: its events and trailer.
func readExport(t *testing.T, body []byte) ([]jsonEvent, exportTrailer) {
	t.Helper()
	var evs []jsonEvent
	var tr exportTrailer
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	var lines [][]byte
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if len(lines) == 0 {
		t.Fatal("empty export")
	}
	for _, line := range lines[:len(lines)-1] {
		var j jsonEvent
		if err := json.Unmarshal(line, &j); err != nil {
			t.Fatalf("export line %s: %v", line, err)
		}
		evs = append(evs, j)
	}
	if err := json.Unmarshal(lines[len(lines)-1], &tr); err != nil {
		t.Fatalf("export trailer: %v", err)
	}
	return evs, tr
}

func TestExportOfAFilteredRangeVerifies(t *testing.T) {
	l := openLog(t, t.TempDir(), map[string]any{"checkpoint_every": 50})
	appendN(t, l, 1, 120)
	pub := pubOf(t, l)
	q := url.Values{"actor": {"admin-2"}, "since": {t0.Add(20 * time.Second).Format(time.RFC3339)}, "until": {t0.Add(100 * time.Second).Format(time.RFC3339)}, "limit": {"5"}}
	var got []uint64
	raw := q.Encode()
	for pages := 0; ; pages++ {
		resp, err := get(t, l, "/export", raw)
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if ct := resp.Response.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jsonl") {
			t.Errorf("Content-Type = %q", ct)
		}
		evs, tr := readExport(t, resp.Response.Body)
		cp := tr.Checkpoint.Checkpoint.checkpoint()
		if cp.Size != 120 || tr.Checkpoint.PublicKeyFingerprint != audit.KeyFingerprint(pub) || tr.Events != len(evs) {
			t.Errorf("trailer = %+v", tr)
		}
		// A reader with the public key alone checks every event.
		for _, j := range evs {
			e := j.event()
			p := &audit.ProveInclusionResponse{Event: e, LeafIndex: e.Sequence - 1, Checkpoint: cp, Proof: j.Proof}
			if err := audit.VerifyInclusion(pub, p); err != nil {
				t.Errorf("event %d of the export does not verify: %v", e.Sequence, err)
			}
			if e.Actor != "admin-2" || e.Time.Before(t0.Add(20*time.Second)) || !e.Time.Before(t0.Add(100*time.Second)) {
				t.Errorf("event %+v is outside the filters", e)
			}
			got = append(got, e.Sequence)
			// A changed event no longer verifies.
			e.Actor = "admin-3"
			p.Event = e
			if audit.VerifyInclusion(pub, p) == nil {
				t.Error("an edited exported event still verifies")
			}
		}
		if tr.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("the export does not end")
		}
		u, err := url.Parse(tr.Next)
		if err != nil || u.Path != "/plugins/audit/export" {
			t.Fatalf("next = %q", tr.Next)
		}
		raw = u.RawQuery
	}
	var want []uint64
	for i := 20; i < 100; i++ {
		if ev(i).Actor == "admin-2" {
			want = append(want, uint64(i))
		}
	}
	if len(got) != len(want) || len(got) < 6 {
		t.Errorf("exported %v, want %v", got, want)
	}
}

func TestExportCSV(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir(), nil)
	e := ev(1)
	e.Actor = "=HYPERLINK(\"http://evil\")"
	e.ResourceID = "+1"
	if _, err := l.Append(ctx, &audit.AppendRequest{Events: []audit.Event{e, ev(2)}}); err != nil {
		t.Fatal(err)
	}
	resp, err := get(t, l, "/export", "format=csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(resp.Response.Body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v", err)
	}
	if len(recs) != 5 || recs[0][0] != "sequence" || recs[1][3] != `'=HYPERLINK("http://evil")` || recs[1][6] != "'+1" {
		t.Fatalf("CSV = %q", recs)
	}
	if recs[3][0] != "#checkpoint" || recs[3][1] != "2" || recs[4][0] != "#next" || recs[4][1] != "" {
		t.Errorf("CSV trailer = %q", recs[3:])
	}
	for _, bad := range []string{"format=xml", "limit=0", "limit=10001", "outcome=maybe", "since=yesterday", "nope=1", "after=garbage"} {
		if _, err := get(t, l, "/export", bad); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("export?%s = %v, want ErrInvalidArgument", bad, err)
		}
	}
	cpResp, err := get(t, l, "/checkpoint", "")
	if err != nil {
		t.Fatal(err)
	}
	var view checkpointView
	if err := json.Unmarshal(cpResp.Response.Body, &view); err != nil || view.Checkpoint.Size != 2 || view.PublicKeyFingerprint != audit.KeyFingerprint(pubOf(t, l)) || !strings.HasPrefix(view.SignedText, "mikrobill-audit\n2\n") {
		t.Errorf("checkpoint route = %s, %v", cpResp.Response.Body, err)
	}
}

func post(t *testing.T, l *Log, route, body string) (*sdk.HandleHTTPResponse, error) {
	t.Helper()
	return l.HandleHTTP(context.Background(), &sdk.HandleHTTPRequest{Route: route, Request: sdk.HTTPRequest{Method: "POST", Path: route, Body: []byte(body)}})
}

func TestArchiveThenVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, dir, map[string]any{"checkpoint_every": 10})
	for i := 1; i <= 40; i += 10 {
		appendN(t, l, i, 10)
	}
	pub := pubOf(t, l)
	if _, err := post(t, l, "/archive", ""); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("archive without a cutoff and retention 0 = %v", err)
	}
	resp, err := post(t, l, "/archive", `{"before": "`+t0.Add(25*time.Second).Format(time.RFC3339)+`"}`)
	if err != nil {
		t.Fatalf("archive: %v", err)
	}
	var res ArchiveResult
	if err := json.Unmarshal(resp.Response.Body, &res); err != nil || res.Events != 24 || res.Through != 24 || len(res.Segments) != 1 {
		t.Fatalf("archive = %s, %v; want events 1 to 24 archived", resp.Response.Body, err)
	}
	page, _ := l.Query(ctx, &audit.QueryRequest{PageSize: 1})
	if page.Events[0].Sequence != 25 {
		t.Errorf("the live log starts at %d, want 25", page.Events[0].Sequence)
	}
	v := verify(t, l, &audit.VerifyRequest{PublicKey: pub})
	if !v.OK || v.Checked != 40 || v.CheckpointsChecked != 4 {
		t.Errorf("Verify after archiving = %+v", v)
	}
	// An archived event is still proved (from its segment), and a retry
	// of it is a duplicate.
	p, err := l.ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: ev(3).ID})
	if err != nil || audit.VerifyInclusion(pub, p) != nil {
		t.Errorf("proof of an archived event: %v", err)
	}
	if r := appendN(t, l, 3, 1); r.Duplicates != 1 || r.Appended != 0 {
		t.Errorf("retrying an archived event = %+v, want a duplicate", r)
	}
	appendN(t, l, 41, 5)
	if v := verify(t, l, nil); !v.OK {
		t.Errorf("Verify after appending to an archived log = %+v", v)
	}
	// Reopen: still consistent.
	_ = l.Shutdown(ctx)
	l = openLog(t, dir, nil)
	if v := verify(t, l, nil); !v.OK || v.Checked != 45 {
		t.Errorf("Verify after reopening = %+v", v)
	}
	// The segment verifies on its own, and a changed one does not.
	seg, err := readSegment(filepath.Join(dir, segmentDir, res.Segments[0]))
	if err != nil {
		t.Fatal(err)
	}
	if p := verifySegment(seg, pub); p != nil {
		t.Fatalf("segment: %+v", p)
	}
	path := filepath.Join(dir, segmentDir, res.Segments[0])
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(b, []byte(`"actor":"admin-3"`), []byte(`"actor":"admin-9"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	v = verify(t, l, nil)
	if v.OK || v.Reason != audit.ReasonSignature || !strings.Contains(v.Message, "is not sealed") {
		t.Errorf("Verify with a changed segment = %+v", v)
	}
	// Without the segment files (moved off the machine), what remains
	// still verifies.
	if err := os.RemoveAll(filepath.Join(dir, segmentDir)); err != nil {
		t.Fatal(err)
	}
	_ = l.Shutdown(ctx)
	l = openLog(t, dir, nil)
	if v := verify(t, l, nil); !v.OK || v.Checked != 21 {
		t.Errorf("Verify without segments = %+v, want the 21 live events checked", v)
	}
}

func TestRetentionSetting(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, map[string]any{"retention_days": 30})
	l.now = func() time.Time { return t0.Add(60 * 24 * time.Hour) }
	appendN(t, l, 1, 5)
	resp, err := post(t, l, "/archive", "")
	if err != nil {
		t.Fatal(err)
	}
	var res ArchiveResult
	_ = json.Unmarshal(resp.Response.Body, &res)
	if res.Events != 5 {
		t.Errorf("archive by retention_days = %+v", res)
	}
	for _, bad := range []string{`{"older_than_days": 0}`, `{"before": "soon"}`, `{"x": 1}`, `{"before": "2999-01-01T00:00:00Z"}`} {
		if _, err := post(t, l, "/archive", bad); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("archive %s = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestNoSecretsInTheFileOrTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	logger, logs := sdktest.Logger(t)
	impl := NewLog()
	h := sdktest.Serve(t, impl, sdktest.WithLogger(logger))
	if _, err := h.Plugin().Configure(ctx, &sdk.ConfigureRequest{Settings: []byte(`{"checkpoint_every": 1}`), DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = impl.Shutdown(ctx) })
	sink := h.Audit()
	const secret = "sk_live_SECRET-4242-never-stored"
	// What the host sends: the secret already redacted.
	e := audit.Event{ID: "e1", Actor: "admin-1", Action: "plugin.configure", Metadata: map[string]string{"server_key": "[REDACTED]", "note": "uniquemetavalue-123"}}
	if _, err := sink.Append(ctx, &audit.AppendRequest{Events: []audit.Event{e}}); err != nil {
		t.Fatal(err)
	}
	if v, err := sink.Verify(ctx, &audit.VerifyRequest{}); err != nil || !v.OK || v.Checkpoint == nil {
		t.Fatalf("Verify over gRPC = %+v, %v", v, err)
	}
	p, err := sink.(audit.Prover).ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: "e1"})
	if err != nil || audit.VerifyInclusion(p.Checkpoint.PublicKey, p) != nil {
		t.Fatalf("ProveInclusion over gRPC: %v", err)
	}
	desc, err := h.Plugin().Describe(ctx, &sdk.DescribeRequest{})
	if err != nil || !strings.Contains(strings.Join(desc.Capabilities, ","), audit.CapabilityProofs) {
		t.Errorf("Describe = %+v, %v; want capability %s", desc, err, audit.CapabilityProofs)
	}
	_ = impl.Shutdown(ctx)
	var all []byte
	entries, _ := os.ReadDir(dir)
	for _, f := range entries {
		if !f.IsDir() {
			b, _ := os.ReadFile(filepath.Join(dir, f.Name()))
			all = append(all, b...)
		}
	}
	if bytes.Contains(all, []byte(secret)) {
		t.Error("the secret is in the data directory's bytes")
	}
	if !bytes.Contains(all, []byte("[REDACTED]")) {
		t.Error("the redacted value is not in the data directory at all: the scan looks at the wrong files")
	}
	if strings.Contains(logs.String(), "uniquemetavalue-123") || strings.Contains(logs.String(), "REDACTED") {
		t.Errorf("the plugin logged a metadata value:\n%s", logs.String())
	}
}
