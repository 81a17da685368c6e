package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/audit"
)

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// openLog configures a Log on dir with settings (nil: defaults) and shuts
// it down when the test ends.
func openLog(t testing.TB, dir string, settings map[string]any) *Log {
	t.Helper()
	l := NewLog()
	raw, _ := json.Marshal(settings)
	if settings == nil {
		raw = nil
	}
	if _, err := l.Configure(context.Background(), &sdk.ConfigureRequest{Settings: raw, DataDir: dir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { _ = l.Shutdown(context.Background()) })
	return l
}

// evID is event i's id: 32 hex digits that look random, as the host's
// (random 16 bytes in hex), so the id index sees inserts all over it.
func evID(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(sum[:16])
}

// ev makes event i: actors and actions vary so filters have work to do.
func ev(i int) audit.Event {
	outcome := audit.OutcomeSuccess
	if i%10 == 0 {
		outcome = audit.OutcomeFailure
	}
	return audit.Event{
		ID:           evID(i),
		Time:         t0.Add(time.Duration(i) * time.Second),
		Actor:        fmt.Sprintf("admin-%d", i%7),
		Action:       []string{"invoice.paid", "invoice.created", "plan.updated", "plugin.restart"}[i%4],
		ResourceType: "invoice",
		ResourceID:   fmt.Sprint(i % 100),
		Outcome:      outcome,
		RemoteAddr:   "203.0.113.9:51234",
		RequestID:    fmt.Sprintf("req-%d", i),
		Metadata:     map[string]string{"amount": fmt.Sprint(1000 * i), "method": "QRIS"},
	}
}

func events(from, n int) []audit.Event {
	out := make([]audit.Event, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, ev(i))
	}
	return out
}

func appendN(t testing.TB, l *Log, from, n int) *audit.AppendResponse {
	t.Helper()
	resp, err := l.Append(context.Background(), &audit.AppendRequest{Events: events(from, n)})
	if err != nil {
		t.Fatalf("Append(%d..%d): %v", from, from+n-1, err)
	}
	return resp
}

func verify(t testing.TB, l *Log, req *audit.VerifyRequest) *audit.VerifyResponse {
	t.Helper()
	if req == nil {
		req = &audit.VerifyRequest{}
	}
	resp, err := l.Verify(context.Background(), req)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return resp
}

func pubOf(t testing.TB, l *Log) ed25519.PublicKey {
	t.Helper()
	st, err := l.store()
	if err != nil {
		t.Fatal(err)
	}
	return st.publicKey()
}

func TestAppendChainsAndSkipsDuplicates(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir(), map[string]any{"checkpoint_every": 5})
	resp := appendN(t, l, 1, 3)
	if resp.Appended != 3 || resp.Duplicates != 0 || resp.LastSequence != 3 {
		t.Fatalf("Append = %+v", resp)
	}
	// A retried batch with one new event, and a repeat inside the batch.
	batch := append(events(1, 4), ev(4))
	resp, err := l.Append(ctx, &audit.AppendRequest{Events: batch})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Appended != 1 || resp.Duplicates != 4 || resp.LastSequence != 4 {
		t.Errorf("retried Append = %+v, want 1 appended, 4 duplicates, last 4", resp)
	}
	page, err := l.Query(ctx, &audit.QueryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i, e := range page.Events {
		if e.Sequence != uint64(i+1) || e.PrevHash != prev || audit.ChainHash(prev, e) != e.Hash || !e.Time.Equal(ev(i+1).Time) || e.Metadata["amount"] != ev(i + 1).Metadata["amount"] {
			t.Errorf("event %d = %+v: not chained or not as sent", i+1, e)
		}
		prev = e.Hash
	}
	if resp.HeadHash != prev {
		t.Errorf("HeadHash = %s, want %s", resp.HeadHash, prev)
	}
	// An invalid event refuses the batch: nothing of it is stored.
	bad := events(10, 2)
	bad[1].Actor = ""
	if _, err := l.Append(ctx, &audit.AppendRequest{Events: bad}); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "actor is required") {
		t.Errorf("Append(invalid) = %v, want ErrInvalidArgument naming the actor", err)
	}
	if v := verify(t, l, nil); !v.OK || v.Checked != 4 {
		t.Errorf("Verify = %+v", v)
	}
	// An event without a time gets the log's clock.
	noTime := audit.Event{ID: "no-time", Actor: "system", Action: "x"}
	if _, err := l.Append(ctx, &audit.AppendRequest{Events: []audit.Event{noTime}}); err != nil {
		t.Fatal(err)
	}
	p, err := l.ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: "no-time"})
	if err != nil || p.Event.Time.IsZero() {
		t.Errorf("event without time: %+v, %v", p, err)
	}
}

func TestCheckpointsEveryNAndOnSchedule(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir(), map[string]any{"checkpoint_every": 10, "checkpoint_interval_seconds": 1})
	if _, err := l.GetCheckpoint(ctx, &audit.GetCheckpointRequest{}); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("GetCheckpoint on an empty log = %v, want ErrNotFound", err)
	}
	appendN(t, l, 1, 12)
	cp, err := l.GetCheckpoint(ctx, &audit.GetCheckpointRequest{})
	if err != nil || cp.Checkpoint.Size != 12 {
		t.Fatalf("after 12 events with checkpoint_every 10: %+v, %v; want a checkpoint of 12", cp, err)
	}
	if err := cp.Checkpoint.Verify(pubOf(t, l)); err != nil {
		t.Error(err)
	}
	appendN(t, l, 13, 3)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp, err = l.GetCheckpoint(ctx, &audit.GetCheckpointRequest{})
		if err == nil && cp.Checkpoint.Size == 15 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled checkpoint of size 15 within 10s (latest %+v, %v)", cp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	v := verify(t, l, nil)
	if !v.OK || v.CheckpointsChecked != 2 || v.Checkpoint == nil || v.Checkpoint.Size != 15 {
		t.Errorf("Verify = %+v", v)
	}
	h, _ := l.CheckHealth(ctx, &sdk.CheckHealthRequest{})
	if h.Status != sdk.HealthOK || h.Details["public_key_fingerprint"] != audit.KeyFingerprint(pubOf(t, l)) || h.Details["last_checkpoint_size"] != uint64(15) {
		t.Errorf("health = %+v", h)
	}
	d, _ := l.Describe(ctx, &sdk.DescribeRequest{})
	if !strings.Contains(d.Description, audit.KeyFingerprint(pubOf(t, l))) {
		t.Errorf("Describe = %q, want the key's fingerprint in it", d.Description)
	}
}

func TestKeyFileAndReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	pub := pubOf(t, l)
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode())
	}
	appendN(t, l, 1, 5)
	_ = l.Shutdown(context.Background())
	l2 := openLog(t, dir, nil)
	if !pub.Equal(pubOf(t, l2)) {
		t.Error("the key changed on reopening")
	}
	resp := appendN(t, l2, 6, 2)
	if resp.LastSequence != 7 {
		t.Errorf("LastSequence after reopening = %d, want 7", resp.LastSequence)
	}
	if v := verify(t, l2, nil); !v.OK {
		t.Errorf("Verify = %+v", v)
	}
}

func TestQueryFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir(), nil)
	appendN(t, l, 1, 200)
	collect := func(req audit.QueryRequest) []uint64 {
		t.Helper()
		var seqs []uint64
		for i := 0; ; i++ {
			page, err := l.Query(ctx, &req)
			if err != nil {
				t.Fatalf("Query %+v: %v", req, err)
			}
			for _, e := range page.Events {
				seqs = append(seqs, e.Sequence)
			}
			if page.NextPageToken == "" {
				return seqs
			}
			req.PageToken = page.NextPageToken
		}
	}
	want := func(desc bool, f func(e audit.Event) bool) []uint64 {
		var seqs []uint64
		for i := 1; i <= 200; i++ {
			if f(ev(i)) {
				seqs = append(seqs, uint64(i))
			}
		}
		if desc {
			for i, j := 0, len(seqs)-1; i < j; i, j = i+1, j-1 {
				seqs[i], seqs[j] = seqs[j], seqs[i]
			}
		}
		return seqs
	}
	tests := []struct {
		name string
		req  audit.QueryRequest
		f    func(e audit.Event) bool
	}{
		{"all", audit.QueryRequest{PageSize: 30}, func(audit.Event) bool { return true }},
		{"actor", audit.QueryRequest{Actor: "admin-3", PageSize: 7}, func(e audit.Event) bool { return e.Actor == "admin-3" }},
		{"action", audit.QueryRequest{Action: "invoice.paid", PageSize: 9}, func(e audit.Event) bool { return e.Action == "invoice.paid" }},
		{"action prefix", audit.QueryRequest{Action: "invoice.", PageSize: 9}, func(e audit.Event) bool { return strings.HasPrefix(e.Action, "invoice.") }},
		{"action prefix star", audit.QueryRequest{Action: "pl*", PageSize: 9}, func(e audit.Event) bool { return strings.HasPrefix(e.Action, "pl") }},
		{"resource", audit.QueryRequest{ResourceType: "invoice", ResourceID: "42"}, func(e audit.Event) bool { return e.ResourceID == "42" }},
		{"outcome", audit.QueryRequest{Outcome: audit.OutcomeFailure, PageSize: 4}, func(e audit.Event) bool { return e.Outcome == audit.OutcomeFailure }},
		{"time", audit.QueryRequest{Since: t0.Add(50 * time.Second), Until: t0.Add(80 * time.Second), PageSize: 8}, func(e audit.Event) bool {
			return !e.Time.Before(t0.Add(50*time.Second)) && e.Time.Before(t0.Add(80*time.Second))
		}},
		{"combined descending", audit.QueryRequest{Actor: "admin-1", Outcome: audit.OutcomeSuccess, Descending: true, PageSize: 5}, func(e audit.Event) bool {
			return e.Actor == "admin-1" && e.Outcome == audit.OutcomeSuccess
		}},
		// A prefix is one page per action it matches, merged: across
		// actions, with other filters, newest first, and matching none.
		{"action prefix combined descending", audit.QueryRequest{Action: "invoice.", Actor: "admin-2", Since: t0.Add(20 * time.Second), Descending: true, PageSize: 3}, func(e audit.Event) bool {
			return strings.HasPrefix(e.Action, "invoice.") && e.Actor == "admin-2" && !e.Time.Before(t0.Add(20*time.Second))
		}},
		{"action prefix none", audit.QueryRequest{Action: "nothing.*", PageSize: 3}, func(e audit.Event) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(tt.req)
			w := want(tt.req.Descending, tt.f)
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("got %v\nwant %v", got, w)
			}
		})
	}

	first, err := l.Query(ctx, &audit.QueryRequest{Actor: "admin-3", PageSize: 2})
	if err != nil || first.NextPageToken == "" {
		t.Fatal(first, err)
	}
	for name, req := range map[string]*audit.QueryRequest{
		"garbage":       {PageToken: "!!!"},
		"other base64":  {PageToken: "eDEuMS54"},
		"other filters": {Actor: "admin-4", PageToken: first.NextPageToken},
		"other order":   {Actor: "admin-3", Descending: true, PageToken: first.NextPageToken},
	} {
		if _, err := l.Query(ctx, req); !errors.Is(err, audit.ErrInvalidPageToken) || !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("%s: Query = %v, want ErrInvalidPageToken", name, err)
		}
	}
}

func TestInclusionProofOffline(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir(), map[string]any{"checkpoint_every": 16})
	appendN(t, l, 1, 16)
	appendN(t, l, 17, 29)
	pub := pubOf(t, l)
	for _, i := range []int{1, 2, 16, 17, 33, 45} {
		p, err := l.ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: ev(i).ID})
		if err != nil {
			t.Fatalf("ProveInclusion(%d): %v", i, err)
		}
		// Offline: only the public key and the proof, through JSON.
		b, _ := json.Marshal(p)
		var back audit.ProveInclusionResponse
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := audit.VerifyInclusion(pub, &back); err != nil {
			t.Errorf("VerifyInclusion(%d) under checkpoint %d: %v", i, p.Checkpoint.Size, err)
		}
		if p.Checkpoint.Size != 45 {
			t.Errorf("proof of %d is under checkpoint %d, want 45 (the latest, taken for it)", i, p.Checkpoint.Size)
		}
	}
	// Under an older checkpoint.
	p, err := l.ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: ev(3).ID, TreeSize: 16})
	if err != nil || audit.VerifyInclusion(pub, p) != nil || p.Checkpoint.Size != 16 {
		t.Errorf("proof under 16: %+v, %v", p, err)
	}
	if _, err := l.ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: ev(20).ID, TreeSize: 16}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("proof of 20 under 16 = %v, want ErrInvalidArgument", err)
	}
	if _, err := l.ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: ev(3).ID, TreeSize: 17}); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("proof under a size never signed = %v, want ErrNotFound", err)
	}
	if _, err := l.ProveInclusion(ctx, &audit.ProveInclusionRequest{EventID: "nope"}); !errors.Is(err, audit.ErrUnknownEvent) {
		t.Errorf("unknown event = %v, want ErrUnknownEvent", err)
	}
}

// rawDB opens the log's SQLite file directly, as an attacker would.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, dbFile)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func execSQL(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// rehashFrom recomputes every event's PrevHash and Hash from seq on, as an
// attacker who knows ChainHash would after editing an event.
func rehashFrom(t *testing.T, db *sql.DB, seq int) {
	t.Helper()
	var prev string
	_ = db.QueryRow(`SELECT hash FROM events WHERE seq = ?`, seq-1).Scan(&prev)
	rows, err := db.Query(eventColumns+` FROM events WHERE seq >= ? ORDER BY seq`, seq)
	if err != nil {
		t.Fatal(err)
	}
	var evs []audit.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	rows.Close()
	for _, e := range evs {
		e.PrevHash = prev
		e.Hash = audit.ChainHash(prev, e)
		execSQL(t, db, `UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Sequence)
		prev = e.Hash
	}
}

func TestTamperingIsDetected(t *testing.T) {
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	tests := []struct {
		name string
		// tamper changes the closed log in dir; knownSize is what the host
		// saw (0: not given), trust whether Verify gets the old key.
		tamper     func(t *testing.T, dir string)
		knownSize  uint64
		trust      bool
		reason     audit.VerifyReason
		firstBad   uint64
		msg        string
		appendsToo bool // the reopened log refuses appends
	}{
		{name: "edit a field", tamper: func(t *testing.T, dir string) {
			execSQL(t, rawDB(t, dir), `UPDATE events SET actor = 'mallory' WHERE seq = 7`)
		}, reason: audit.ReasonChain, firstBad: 7, msg: "event 7 (\"" + evID(7) + "\", plugin.restart by mallory) was changed"},
		{name: "edit metadata", tamper: func(t *testing.T, dir string) {
			execSQL(t, rawDB(t, dir), `UPDATE events SET metadata = '{"amount":"1","method":"QRIS"}' WHERE seq = 23`)
		}, reason: audit.ReasonChain, firstBad: 23, msg: "was changed"},
		{name: "edit and rehash the chain", tamper: func(t *testing.T, dir string) {
			db := rawDB(t, dir)
			execSQL(t, db, `UPDATE events SET outcome = 'success' WHERE seq = 10`)
			rehashFrom(t, db, 10)
		}, reason: audit.ReasonTree, firstBad: 10, msg: "is not the event the Merkle tree holds", appendsToo: true},
		{name: "edit, rehash and rebuild the leaves", tamper: func(t *testing.T, dir string) {
			db := rawDB(t, dir)
			execSQL(t, db, `UPDATE events SET outcome = 'success' WHERE seq = 10`)
			rehashFrom(t, db, 10)
			rows, _ := db.Query(`SELECT seq, hash FROM events WHERE seq >= 10`)
			var upd [][2]any
			for rows.Next() {
				var seq int
				var h string
				_ = rows.Scan(&seq, &h)
				leaf, _ := audit.LeafHash(&audit.Event{Hash: h})
				upd = append(upd, [2]any{leaf, seq - 1})
			}
			rows.Close()
			for _, u := range upd {
				execSQL(t, db, `UPDATE tree SET hash = ? WHERE level = 0 AND idx = ?`, u[0], u[1])
			}
		}, reason: audit.ReasonTree, firstBad: 1, msg: "the events up to 10 do not hash to the root of the signed checkpoint", appendsToo: true},
		{name: "forge a checkpoint with the log's own key", tamper: func(t *testing.T, dir string) {
			db := rawDB(t, dir)
			key, err := readKey(dir)
			if err != nil {
				t.Fatal(err)
			}
			cp, _ := scanCheckpoint(db.QueryRow(checkpointColumns + ` WHERE size = 20`))
			cp.RootHash = bytes.Repeat([]byte{1}, 32)
			cp.Sign(key)
			execSQL(t, db, `UPDATE checkpoints SET root = ?, signature = ? WHERE size = 20`, cp.RootHash, cp.Signature)
		}, reason: audit.ReasonTree, firstBad: 11, msg: "the events up to 20 do not hash to the root"},
		{name: "delete a row", tamper: func(t *testing.T, dir string) {
			execSQL(t, rawDB(t, dir), `DELETE FROM events WHERE seq = 12`)
		}, reason: audit.ReasonChain, firstBad: 12, msg: "event 12 is missing"},
		{name: "truncate the tail", tamper: func(t *testing.T, dir string) {
			execSQL(t, rawDB(t, dir), `DELETE FROM events WHERE seq > 25`)
		}, reason: audit.ReasonTruncated, firstBad: 26, msg: "the log ends at event 25, but the latest checkpoint covers 30", appendsToo: true},
		{name: "truncate the tail and its checkpoints and tree", tamper: func(t *testing.T, dir string) {
			db := rawDB(t, dir)
			execSQL(t, db, `DELETE FROM events WHERE seq > 25`)
			execSQL(t, db, `DELETE FROM checkpoints WHERE size > 25`)
			execSQL(t, db, `DELETE FROM tree WHERE level = 0 AND idx >= 25`)
		}, knownSize: 30, reason: audit.ReasonRollback, firstBad: 21, msg: "a checkpoint of 30 was seen before"},
		{name: "re-sign with another key", tamper: func(t *testing.T, dir string) {
			db := rawDB(t, dir)
			rows, _ := db.Query(checkpointColumns)
			var cps []audit.Checkpoint
			for rows.Next() {
				cp, _ := scanCheckpoint(rows)
				cps = append(cps, cp)
			}
			rows.Close()
			for _, cp := range cps {
				cp.Sign(other)
				execSQL(t, db, `UPDATE checkpoints SET public_key = ?, signature = ? WHERE size = ?`, cp.PublicKey, cp.Signature, cp.Size)
			}
			writeKey(t, dir, other)
		}, trust: true, reason: audit.ReasonSignature, firstBad: 1, msg: "it names key " + audit.KeyFingerprint(other.Public().(ed25519.PublicKey))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, map[string]any{"checkpoint_every": 10})
			for i := 1; i <= 30; i += 10 {
				appendN(t, l, i, 10) // checkpoints at 10, 20 and 30
			}
			pub := pubOf(t, l)
			if v := verify(t, l, nil); !v.OK {
				t.Fatalf("Verify before tampering = %+v", v)
			}
			_ = l.Shutdown(context.Background())
			tt.tamper(t, dir)
			l2 := openLog(t, dir, nil)
			req := &audit.VerifyRequest{KnownSize: tt.knownSize}
			if tt.trust {
				req.PublicKey = pub
			}
			v := verify(t, l2, req)
			if v.OK || v.Reason != tt.reason || v.FirstBadSequence != tt.firstBad || !strings.Contains(v.Message, tt.msg) {
				t.Errorf("Verify = OK %v, reason %q, first bad %d, %q\nwant reason %q, first bad %d, message containing %q", v.OK, v.Reason, v.FirstBadSequence, v.Message, tt.reason, tt.firstBad, tt.msg)
			}
			// Appends stop: at opening when the tail shows it, else once
			// Verify has found the damage.
			if _, err := l2.Append(context.Background(), &audit.AppendRequest{Events: events(100, 1)}); !errors.Is(err, audit.ErrChainBroken) {
				t.Errorf("Append after tampering = %v, want ErrChainBroken", err)
			}
			if h, _ := l2.CheckHealth(context.Background(), &sdk.CheckHealthRequest{}); h.Status != sdk.HealthError {
				t.Errorf("health after tampering = %+v, want error", h)
			}
		})
	}
}

func TestOlderCopyOfTheFileIsARollback(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, map[string]any{"checkpoint_every": 10})
	appendN(t, l, 1, 20)
	_ = l.Shutdown(context.Background())
	old := t.TempDir()
	copyFile(t, filepath.Join(dir, dbFile), filepath.Join(old, dbFile))
	l = openLog(t, dir, map[string]any{"checkpoint_every": 10})
	appendN(t, l, 21, 20)
	known := verify(t, l, nil).Checkpoint.Size
	_ = l.Shutdown(context.Background())
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(filepath.Join(dir, dbFile+suffix))
	}
	copyFile(t, filepath.Join(old, dbFile), filepath.Join(dir, dbFile))
	l = openLog(t, dir, nil)
	if v := verify(t, l, nil); !v.OK {
		t.Fatalf("the older copy verifies on its own (that is why KnownSize exists): %+v", v)
	}
	v := verify(t, l, &audit.VerifyRequest{KnownSize: known})
	if v.OK || v.Reason != audit.ReasonRollback || v.FirstBadSequence != 21 || !strings.Contains(v.Message, "rolled back") {
		t.Errorf("Verify with KnownSize %d = %+v, want rollback at 21", known, v)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeKey(t *testing.T, dir string, key ed25519.PrivateKey) {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, keyFile))
	// loadOrCreateKey writes a new random key; replace it with key.
	if _, err := loadOrCreateKey(dir); err != nil {
		t.Fatal(err)
	}
	der, _ := marshalKey(key)
	if err := os.WriteFile(filepath.Join(dir, keyFile), der, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRange(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, map[string]any{"checkpoint_every": 10})
	appendN(t, l, 1, 30)
	v := verify(t, l, &audit.VerifyRequest{FromSequence: 11, ToSequence: 20})
	if !v.OK || v.Checked != 10 || !strings.Contains(v.Message, "range check") {
		t.Errorf("range Verify = %+v", v)
	}
	if _, err := l.Verify(context.Background(), &audit.VerifyRequest{FromSequence: 5, ToSequence: 2}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("Verify(5..2) = %v", err)
	}
	if _, err := l.Verify(context.Background(), &audit.VerifyRequest{PublicKey: []byte("short")}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("Verify(short key) = %v", err)
	}
	_ = l.Shutdown(context.Background())
	execSQL(t, rawDB(t, dir), `UPDATE events SET action = 'x' WHERE seq = 15`)
	l = openLog(t, dir, nil)
	if v := verify(t, l, &audit.VerifyRequest{FromSequence: 21, ToSequence: 30}); !v.OK {
		t.Errorf("a range after the damage = %+v, want OK", v)
	}
	if v := verify(t, l, &audit.VerifyRequest{FromSequence: 11, ToSequence: 20}); v.OK || v.FirstBadSequence != 15 {
		t.Errorf("a range over the damage = %+v, want chain at 15", v)
	}
}

func TestPlainMetadata(t *testing.T) {
	for _, m := range []map[string]string{nil, {"a": "b"}, {"amount": "150000", "method": "QRIS", "": ""}, {"q": `say "hi"\n`}, {"ü": "<&>"}} {
		raw, _ := json.Marshal(m)
		var e audit.Event
		decodeMetadata(&e, string(raw))
		if len(m) == 0 && len(e.Metadata) == 0 {
			continue
		}
		if fmt.Sprint(e.Metadata) != fmt.Sprint(m) {
			t.Errorf("decodeMetadata(%s) = %v, want %v", raw, e.Metadata, m)
		}
	}
	if _, ok := plainMetadata(`{"a":1}`); ok {
		t.Error("a number is not plain")
	}
}

func TestForgedCheckpointFailsConsistency(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, map[string]any{"checkpoint_every": 10})
	for i := 1; i <= 30; i += 10 {
		appendN(t, l, i, 10)
	}
	_ = l.Shutdown(context.Background())
	// With the log's own key (it is in the data directory), checkpoint 20
	// is replaced by one over another tree.
	db := rawDB(t, dir)
	key, err := readKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := scanCheckpoint(db.QueryRow(checkpointColumns + ` WHERE size = 20`))
	if err != nil {
		t.Fatal(err)
	}
	cp.RootHash = bytes.Repeat([]byte{1}, 32)
	cp.Sign(key)
	execSQL(t, db, `UPDATE checkpoints SET root = ?, signature = ? WHERE size = 20`, cp.RootHash, cp.Signature)
	l = openLog(t, dir, nil)
	// A range check does not recompute the roots; the consistency proofs
	// between checkpoints still catch it.
	v := verify(t, l, &audit.VerifyRequest{FromSequence: 21, ToSequence: 30})
	if v.OK || v.Reason != audit.ReasonConsistency || v.FirstBadSequence != 11 || !strings.Contains(v.Message, "checkpoint 20 does not extend checkpoint 10") {
		t.Errorf("Verify = %+v, want consistency at 11", v)
	}
}

func TestDurabilitySetting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := NewLog()
	_, err := l.Configure(ctx, &sdk.ConfigureRequest{Settings: []byte(`{"durability": "sometimes"}`), DataDir: dir})
	if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), `"sometimes"`) || !strings.Contains(err.Error(), `"normal"`) {
		t.Fatalf("Configure(durability sometimes) = %v, want ErrInvalidArgument naming the value and the choices", err)
	}
	l = openLog(t, dir, map[string]any{"durability": "normal"})
	appendN(t, l, 1, 10)
	var sync int
	st, _ := l.store()
	if err := st.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 1 {
		t.Fatalf("synchronous = %d, %v; want 1 (NORMAL)", sync, err)
	}
	// Back to full on the same log: reopened, nothing lost.
	if _, err := l.Configure(ctx, &sdk.ConfigureRequest{Settings: []byte(`{"durability": "full"}`), DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	st, _ = l.store()
	if err := st.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	appendN(t, l, 11, 10)
	if v := verify(t, l, nil); !v.OK || v.Checked != 20 {
		t.Fatalf("Verify = %+v", v)
	}
}

// TestTamperingAcrossVerifyBlocks: Verify reads blocks of verifyBlock
// events on two readers in turn; an edit or a gap in any block, at a block's
// edge or of a whole block, is still named, and a sound log of several
// blocks verifies.
func TestTamperingAcrossVerifyBlocks(t *testing.T) {
	const n = 2*verifyBlock + 1000 // blocks 1 and 3 on one reader, 2 on the other
	build := func(t *testing.T) string {
		dir := t.TempDir()
		l := openLog(t, dir, nil)
		for i := 1; i <= n; i += 1000 {
			appendN(t, l, i, min(1000, n-i+1))
		}
		if v := verify(t, l, nil); !v.OK || v.Checked != n {
			t.Fatalf("Verify of the sound log = %+v", v)
		}
		if err := l.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name     string
		tamper   string
		reason   audit.VerifyReason
		firstBad uint64
		msg      string
	}{
		{"edit in the second reader's block", `UPDATE events SET actor = 'mallory' WHERE seq = 5000`, audit.ReasonChain, 5000, "event 5000 (\"" + evID(5000) + "\", invoice.paid by mallory) was changed"},
		{"edit in the last block", `UPDATE events SET resource_id = '7' WHERE seq = 9000`, audit.ReasonChain, 9000, "was changed"},
		{"delete the first event of a block", fmt.Sprintf(`DELETE FROM events WHERE seq = %d`, verifyBlock+1), audit.ReasonChain, verifyBlock + 1, fmt.Sprintf("event %d is missing", verifyBlock+1)},
		{"delete a whole block", fmt.Sprintf(`DELETE FROM events WHERE seq > %d AND seq <= %d`, verifyBlock, 2*verifyBlock), audit.ReasonChain, verifyBlock + 1, fmt.Sprintf("event %d is missing (the next stored event is %d", verifyBlock+1, 2*verifyBlock+1)},
		{"delete a leaf in the second reader's block", fmt.Sprintf(`DELETE FROM tree WHERE level = 0 AND idx = %d`, verifyBlock+9), audit.ReasonTree, verifyBlock + 10, "is not the event the Merkle tree holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := build(t)
			execSQL(t, rawDB(t, dir), tc.tamper)
			l := openLog(t, dir, nil)
			v := verify(t, l, nil)
			if v.OK || v.Reason != tc.reason || v.FirstBadSequence != tc.firstBad || !strings.Contains(v.Message, tc.msg) {
				t.Fatalf("Verify = OK %v, reason %q, first bad %d, %q; want reason %q, first bad %d, %q", v.OK, v.Reason, v.FirstBadSequence, v.Message, tc.reason, tc.firstBad, tc.msg)
			}
		})
	}
}
