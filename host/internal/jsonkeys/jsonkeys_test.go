package jsonkeys_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/jsonkeys"
)

// TestWalk: every key in document order, with its object's path and the
// keys before it (a repeated key sees itself); visit's error stops the
// walk; invalid JSON is an error.
func TestWalk(t *testing.T) {
	var got []string
	err := jsonkeys.Walk([]byte(`{"a": 1e999, "b": [{"c": 1}, {"c": 2, "c": 3}], "a": {"d": null}}`), func(path []jsonkeys.Step, key string, before []string) error {
		got = append(got, fmt.Sprintf("%v %s %v", path, key, before))
		return nil
	})
	want := []string{
		"[] a []",
		"[] b [a]",
		"[b 0] c []",
		"[b 1] c []",
		"[b 1] c [c]",
		"[] a [a b]",
		"[a] d []",
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Walk: %v\n got %q\nwant %q", err, got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := jsonkeys.Walk([]byte(`{"a": {"b": 1}, "c": 2}`), func([]jsonkeys.Step, string, []string) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Walk after an error: %v, %d calls; want stop after 1", err, n)
	}
	if err := jsonkeys.Walk([]byte(`{"a": `), func([]jsonkeys.Step, string, []string) error { return nil }); err == nil {
		t.Error("Walk of invalid JSON: no error")
	}
}
