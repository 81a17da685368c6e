package sdktest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestFakeHostKV(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := sdktest.NewFakeHost()
	h.Now = func() time.Time { return now }

	type result struct {
		Value []byte
		OK    bool
	}
	steps := []struct {
		name    string
		advance time.Duration
		do      func() (result, error)
		want    result
	}{
		{name: "get missing", do: func() (result, error) { v, ok, err := h.KVGet(ctx, "a"); return result{v, ok}, err }},
		{name: "delete missing", do: func() (result, error) { ok, err := h.KVDelete(ctx, "a"); return result{OK: ok}, err }},
		{name: "set", do: func() (result, error) {
			ok, err := h.KVSet(ctx, "a", []byte("1"), sdk.KVSetOptions{})
			return result{OK: ok}, err
		}, want: result{OK: true}},
		{name: "get", do: func() (result, error) { v, ok, err := h.KVGet(ctx, "a"); return result{v, ok}, err }, want: result{[]byte("1"), true}},
		{name: "only if absent, present", do: func() (result, error) {
			ok, err := h.KVSet(ctx, "a", []byte("2"), sdk.KVSetOptions{OnlyIfAbsent: true})
			return result{OK: ok}, err
		}},
		{name: "kept", do: func() (result, error) { v, ok, err := h.KVGet(ctx, "a"); return result{v, ok}, err }, want: result{[]byte("1"), true}},
		{name: "overwrite", do: func() (result, error) {
			ok, err := h.KVSet(ctx, "a", []byte("3"), sdk.KVSetOptions{})
			return result{OK: ok}, err
		}, want: result{OK: true}},
		{name: "overwritten", do: func() (result, error) { v, ok, err := h.KVGet(ctx, "a"); return result{v, ok}, err }, want: result{[]byte("3"), true}},
		{name: "delete", do: func() (result, error) { ok, err := h.KVDelete(ctx, "a"); return result{OK: ok}, err }, want: result{OK: true}},
		{name: "deleted", do: func() (result, error) { v, ok, err := h.KVGet(ctx, "a"); return result{v, ok}, err }},
		{name: "only if absent, absent", do: func() (result, error) {
			ok, err := h.KVSet(ctx, "a", []byte("4"), sdk.KVSetOptions{OnlyIfAbsent: true})
			return result{OK: ok}, err
		}, want: result{OK: true}},

		{name: "set with TTL", do: func() (result, error) {
			ok, err := h.KVSet(ctx, "t", []byte("x"), sdk.KVSetOptions{TTL: time.Minute})
			return result{OK: ok}, err
		}, want: result{OK: true}},
		{name: "just before expiry", advance: time.Minute - time.Nanosecond, do: func() (result, error) {
			v, ok, err := h.KVGet(ctx, "t")
			return result{v, ok}, err
		}, want: result{[]byte("x"), true}},
		{name: "at expiry", advance: time.Nanosecond, do: func() (result, error) {
			v, ok, err := h.KVGet(ctx, "t")
			return result{v, ok}, err
		}},
		{name: "expired key is absent", do: func() (result, error) {
			ok, err := h.KVSet(ctx, "t", []byte("y"), sdk.KVSetOptions{OnlyIfAbsent: true, TTL: time.Second})
			return result{OK: ok}, err
		}, want: result{OK: true}},
		{name: "expired key is not deleted", advance: time.Second, do: func() (result, error) {
			ok, err := h.KVDelete(ctx, "t")
			return result{OK: ok}, err
		}},
		{name: "no TTL never expires", advance: 365 * 24 * time.Hour, do: func() (result, error) {
			v, ok, err := h.KVGet(ctx, "a")
			return result{v, ok}, err
		}, want: result{[]byte("4"), true}},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		got, err := s.do()
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, s.name, err)
		}
		if diff := cmp.Diff(s.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("step %d (%s) (-want +got):\n%s", i, s.name, diff)
		}
	}
}

func TestFakeHostKVCopies(t *testing.T) {
	// The store keeps its own copies: callers may reuse their buffers.
	ctx := context.Background()
	h := sdktest.NewFakeHost()
	in := []byte("abc")
	if _, err := h.KVSet(ctx, "k", in, sdk.KVSetOptions{}); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	out, _, _ := h.KVGet(ctx, "k")
	out[1] = 'Y'
	again, _, _ := h.KVGet(ctx, "k")
	if string(again) != "abc" {
		t.Errorf("stored value = %q, want %q", again, "abc")
	}
}

func TestFakeHostPublish(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := sdktest.NewFakeHost()
	h.Now = func() time.Time { return now }

	id1, err := h.Publish(ctx, sdk.Event{Type: "invoice.paid", Subject: "invoice/42", Data: json.RawMessage(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(id1) != 16 {
		t.Errorf("generated id %q, want 16 hex digits", id1)
	}
	id2, err := h.Publish(ctx, sdk.Event{Type: "invoice.paid"})
	if err != nil {
		t.Fatal(err)
	}
	if id2 == id1 {
		t.Errorf("two events got the same id %q", id1)
	}
	at := now.Add(-time.Hour)
	id3, err := h.Publish(ctx, sdk.Event{ID: "evt-own", Type: "t", Source: "payment-manual", Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if id3 != "evt-own" {
		t.Errorf("Publish returned %q, want the event's own id", id3)
	}

	want := []sdk.Event{
		{ID: id1, Type: "invoice.paid", Source: "plugin", Subject: "invoice/42", Time: now, Data: json.RawMessage(`{"a":1}`)},
		{ID: id2, Type: "invoice.paid", Source: "plugin", Time: now},
		{ID: "evt-own", Type: "t", Source: "payment-manual", Time: at},
	}
	got := h.Events()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Events (-want +got):\n%s", diff)
	}
	// Events returns a copy.
	got[0].Type = "changed"
	if h.Events()[0].Type != "invoice.paid" {
		t.Error("Events returned the host's own slice")
	}
}
