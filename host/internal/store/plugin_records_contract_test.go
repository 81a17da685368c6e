package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// recordClock sets the store's clock to a time the test moves.
func recordClock(s *store.Store) *time.Time {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	return &now
}

// readRecord reads a record, "" and false when there is none.
func readRecord(t *testing.T, q *store.Queries, plugin, key string) (string, bool) {
	t.Helper()
	v, err := q.GetPluginRecord(context.Background(), plugin, key)
	if errors.Is(err, store.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatalf("GetPluginRecord(%s, %s): %v", plugin, key, err)
	}
	return string(v), true
}

func TestPluginRecordsTTL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := recordClock(s)
		q := s.Q()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(q.SetPluginRecord(ctx, "pay", "hour", []byte("h"), time.Hour))
		must(q.SetPluginRecord(ctx, "pay", "forever", []byte("f"), 0))
		must(q.SetPluginRecord(ctx, "pay", "long", []byte("l"), 400*24*time.Hour))
		must(q.SetPluginRecord(ctx, "pay", "empty", nil, 0))
		if v, ok := readRecord(t, q, "pay", "hour"); !ok || v != "h" {
			t.Errorf("record before its TTL = %q, %t; want h", v, ok)
		}
		if v, ok := readRecord(t, q, "pay", "empty"); !ok || v != "" {
			t.Errorf("empty record = %q, %t; want it found and empty", v, ok)
		}

		*now = now.Add(time.Hour - time.Millisecond)
		if _, ok := readRecord(t, q, "pay", "hour"); !ok {
			t.Error("record gone 1 ms before its TTL")
		}
		*now = now.Add(time.Millisecond)
		if v, ok := readRecord(t, q, "pay", "hour"); ok {
			t.Errorf("record read %q once its TTL had passed; want not found", v)
		}
		if list, err := q.ListPluginRecords(ctx, "pay", "hour", "", 10); err != nil || len(list) != 0 {
			t.Errorf("ListPluginRecords of an expired record = %v, %v; want none", list, err)
		}
		if err := q.DeletePluginRecord(ctx, "pay", "hour"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeletePluginRecord of an expired record: %v; want ErrNotFound (it was not live)", err)
		}

		*now = now.Add(399 * 24 * time.Hour)
		if _, ok := readRecord(t, q, "pay", "long"); !ok {
			t.Error("a record with a 400-day TTL was gone after 399 days")
		}
		if _, ok := readRecord(t, q, "pay", "forever"); !ok {
			t.Error("a record without TTL expired")
		}
		*now = now.Add(24 * time.Hour)
		if _, ok := readRecord(t, q, "pay", "long"); ok {
			t.Error("a record with a 400-day TTL was read after 400 days")
		}

		// A short TTL is rounded up to the millisecond, not down to none.
		must(q.SetPluginRecord(ctx, "pay", "brief", []byte("b"), time.Microsecond))
		if _, ok := readRecord(t, q, "pay", "brief"); !ok {
			t.Error("a record with a 1 µs TTL was expired as it was written")
		}

		// Overwriting sets the new value and the new TTL.
		must(q.SetPluginRecord(ctx, "pay", "forever", []byte("f2"), time.Minute))
		*now = now.Add(time.Minute)
		if _, ok := readRecord(t, q, "pay", "forever"); ok {
			t.Error("an overwritten record kept its old (absent) TTL")
		}

		if err := q.SetPluginRecord(ctx, "pay", "neg", nil, -time.Second); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("negative TTL: %v; want ErrInvalid", err)
		}
		if err := q.SetPluginRecord(ctx, "", "k", nil, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("no plugin: %v; want ErrInvalid", err)
		}
	})
}

func TestPluginRecordsSetIfAbsent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := recordClock(s)
		q := s.Q()
		stored, err := q.SetPluginRecordIfAbsent(ctx, "pay", "lock", []byte("first"), time.Hour)
		if err != nil || !stored {
			t.Fatalf("SetPluginRecordIfAbsent of a new key = %t, %v; want stored", stored, err)
		}
		stored, err = q.SetPluginRecordIfAbsent(ctx, "pay", "lock", []byte("second"), time.Hour)
		if err != nil || stored {
			t.Errorf("SetPluginRecordIfAbsent of a live key = %t, %v; want not stored", stored, err)
		}
		if v, _ := readRecord(t, q, "pay", "lock"); v != "first" {
			t.Errorf("after a refused SetPluginRecordIfAbsent the record is %q; want first", v)
		}

		// An expired record is taken over, with the new value and TTL.
		*now = now.Add(time.Hour)
		stored, err = q.SetPluginRecordIfAbsent(ctx, "pay", "lock", []byte("third"), 2*time.Hour)
		if err != nil || !stored {
			t.Fatalf("SetPluginRecordIfAbsent over an expired record = %t, %v; want stored", stored, err)
		}
		*now = now.Add(time.Hour)
		if v, ok := readRecord(t, q, "pay", "lock"); !ok || v != "third" {
			t.Errorf("the record that took over an expired one = %q, %t; want third, live for 2h", v, ok)
		}

		// A record without TTL is never taken over.
		if err := q.SetPluginRecord(ctx, "pay", "kept", []byte("k"), 0); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(1000 * 24 * time.Hour)
		if stored, err := q.SetPluginRecordIfAbsent(ctx, "pay", "kept", []byte("x"), 0); err != nil || stored {
			t.Errorf("SetPluginRecordIfAbsent over a record without TTL = %t, %v; want not stored", stored, err)
		}
	})
}

// TestPluginRecordsSetIfAbsentRace: of concurrent SetPluginRecordIfAbsent
// calls on one key, exactly one stores, on a new key and on an expired one.
func TestPluginRecordsSetIfAbsentRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := recordClock(s)
		if err := s.Q().SetPluginRecord(ctx, "pay", "expired", []byte("old"), time.Second); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Minute)
		const n = 16
		for _, key := range []string{"new", "expired"} {
			var wg sync.WaitGroup
			results := make(chan string, n)
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v := fmt.Sprintf("caller-%d", i)
					stored, err := s.Q().SetPluginRecordIfAbsent(ctx, "pay", key, []byte(v), time.Hour)
					if err != nil {
						errs <- err
					} else if stored {
						results <- v
					}
				}()
			}
			wg.Wait()
			close(results)
			close(errs)
			for err := range errs {
				t.Errorf("key %s: %v", key, err)
			}
			var winners []string
			for v := range results {
				winners = append(winners, v)
			}
			if len(winners) != 1 {
				t.Fatalf("key %s: %d callers stored (%v); want exactly one", key, len(winners), winners)
			}
			if v, _ := readRecord(t, s.Q(), "pay", key); v != winners[0] {
				t.Errorf("key %s holds %q; the winner wrote %q", key, v, winners[0])
			}
		}
	})
}

func TestPluginRecordsIsolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		recordClock(s)
		q := s.Q()
		for _, p := range []string{"payment-a", "payment-b"} {
			if err := q.SetPluginRecord(ctx, p, "idem/1", []byte(p), 0); err != nil {
				t.Fatal(err)
			}
		}
		if v, _ := readRecord(t, q, "payment-a", "idem/1"); v != "payment-a" {
			t.Errorf("payment-a reads %q; want its own value", v)
		}
		if stored, err := q.SetPluginRecordIfAbsent(ctx, "payment-c", "idem/1", []byte("c"), 0); err != nil || !stored {
			t.Errorf("another plugin's key blocked SetPluginRecordIfAbsent: %t, %v", stored, err)
		}
		if err := q.DeletePluginRecord(ctx, "payment-a", "idem/1"); err != nil {
			t.Fatal(err)
		}
		if v, ok := readRecord(t, q, "payment-b", "idem/1"); !ok || v != "payment-b" {
			t.Errorf("payment-a's delete touched payment-b's record: %q, %t", v, ok)
		}
		if err := q.DeletePluginRecord(ctx, "payment-a", "idem/1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: %v; want ErrNotFound", err)
		}
		list, err := q.ListPluginRecords(ctx, "payment-b", "", "", 100)
		if err != nil || len(list) != 1 || list[0].Key != "idem/1" || string(list[0].Value) != "payment-b" {
			t.Errorf("payment-b lists %v, %v; want its one record", list, err)
		}
	})
}

func TestPluginRecordsList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := recordClock(s)
		q := s.Q()
		keys := []string{"a%", "a%b", "a_b", "aXb", "A%b", "ab", "b", "p/", "p0", "é1", "ê", `a\b`, `a\%`}
		for i := range 25 {
			keys = append(keys, fmt.Sprintf("p/%02d", i))
		}
		for _, k := range keys {
			if err := q.SetPluginRecord(ctx, "pay", k, []byte("v:"+k), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.SetPluginRecord(ctx, "pay", "p/expired", nil, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := q.SetPluginRecord(ctx, "other", "p/other", nil, 0); err != nil {
			t.Fatal(err)
		}
		*now = now.Add(time.Second)

		list := func(prefix, after string, limit int) []string {
			t.Helper()
			recs, err := q.ListPluginRecords(ctx, "pay", prefix, after, limit)
			if err != nil {
				t.Fatalf("ListPluginRecords(%q, %q, %d): %v", prefix, after, limit, err)
			}
			out := []string{}
			for _, r := range recs {
				if string(r.Value) != "v:"+r.Key {
					t.Errorf("record %q has value %q", r.Key, r.Value)
				}
				out = append(out, r.Key)
			}
			return out
		}
		for _, c := range []struct {
			prefix string
			want   []string
		}{
			{"a%", []string{"a%", "a%b"}},
			{"a_", []string{"a_b"}},
			{`a\`, []string{`a\%`, `a\b`}},
			{"A", []string{"A%b"}},
			{"é", []string{"é1"}},
			{"zz", []string{}},
		} {
			if diff := cmp.Diff(c.want, list(c.prefix, "", 100)); diff != "" {
				t.Errorf("prefix %q (-want +got):\n%s", c.prefix, diff)
			}
		}

		// Pages of the p/ keys: key order, after the last key of the page
		// before, p/ itself included and neither p0 (after the prefix's
		// range) nor the expired record nor another plugin's.
		want := []string{"p/"}
		for i := range 25 {
			want = append(want, fmt.Sprintf("p/%02d", i))
		}
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			page := list("p/", after, 10)
			got = append(got, page...)
			if len(page) < 10 {
				break
			}
			after = page[len(page)-1]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages of p/ (-want +got):\n%s", diff)
		}

		all := list("", "", 1000)
		if len(all) != len(keys) {
			t.Errorf("the empty prefix lists %d records, want %d: %v", len(all), len(keys), all)
		}
		for i := 1; i < len(all); i++ {
			if all[i-1] >= all[i] {
				t.Errorf("not in key order: %q before %q", all[i-1], all[i])
			}
		}
		if _, err := q.ListPluginRecords(ctx, "pay", "", "", 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("limit 0: %v; want ErrInvalid", err)
		}
	})
}

func TestPluginRecordsSweep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := recordClock(s)
		q := s.Q()
		for i := range 7 {
			if err := q.SetPluginRecord(ctx, fmt.Sprintf("p%d", i%2), fmt.Sprintf("old/%d", i), nil, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []struct {
			key string
			ttl time.Duration
		}{{"live/forever", 0}, {"live/day", 24 * time.Hour}, {"live/2min", 2 * time.Minute}} {
			if err := q.SetPluginRecord(ctx, "p0", r.key, nil, r.ttl); err != nil {
				t.Fatal(err)
			}
		}
		rows := func() int {
			t.Helper()
			var n int
			if err := q.DB().QueryRow(ctx, "SELECT COUNT(*) FROM plugin_records").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n, err := q.DeleteExpiredPluginRecords(ctx, 3); err != nil || n != 0 {
			t.Errorf("sweep before anything expired removed %d (%v); want 0", n, err)
		}
		*now = now.Add(time.Minute)
		var batches []int64
		for {
			n, err := q.DeleteExpiredPluginRecords(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, n)
			if n < 3 || len(batches) > 5 {
				break
			}
		}
		if diff := cmp.Diff([]int64{3, 3, 1}, batches); diff != "" {
			t.Errorf("sweep batches of 3 (-want +got):\n%s", diff)
		}
		if n := rows(); n != 3 {
			t.Errorf("%d rows left after the sweep; want the 3 live ones", n)
		}
		for _, k := range []string{"live/forever", "live/day", "live/2min"} {
			if _, ok := readRecord(t, q, "p0", k); !ok {
				t.Errorf("the sweep removed live record %s", k)
			}
		}
		if _, err := q.DeleteExpiredPluginRecords(ctx, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("limit 0: %v; want ErrInvalid", err)
		}
	})
}
