// Package convtest is the round-trip test of the SDK's converters, shared
// by package sdk and every kind package (payment, router, notify, audit):
// each convert_test.go lists its cases with RoundTrip and runs them with
// Run. Only tests import it.
package convtest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

// Case is one round trip: Go -> proto -> wire -> proto -> Go.
type Case struct {
	name string
	run  func(t testing.TB)
}

// RoundTrip builds a case that converts in to proto, marshals and unmarshals
// it, converts it back and expects in again. With full set, it first checks
// that every field of in is set (AssertAllSet), so a field added to a type
// but not to its converters (or to the fixture) fails the test.
func RoundTrip[G any, P proto.Message](name string, in G, full bool, to func(G) P, from func(P) G) Case {
	return Case{name: name, run: func(t testing.TB) {
		t.Helper()
		if full {
			AssertAllSet(t, in)
		}
		b, err := proto.Marshal(to(in))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		p := to(in).ProtoReflect().New().Interface().(P)
		if err := proto.Unmarshal(b, p); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if diff := cmp.Diff(in, from(p)); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
	}}
}

// Run runs every case as a subtest named after it.
func Run(t *testing.T, cases ...Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t) })
	}
}

// AssertAllSet fails for every exported field under v that holds its zero
// value, and for every empty slice and map, naming it by its path from v
// ("in.Items[1].UnitPrice"). A time.Time is a leaf: set means not zero.
func AssertAllSet(t testing.TB, v any) {
	t.Helper()
	assertAllSet(t, reflect.ValueOf(v), "in")
}

func assertAllSet(t testing.TB, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil; set every field in the fixture", path)
			return
		}
		assertAllSet(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.IsZero() {
				t.Errorf("%s.%s is the zero value; set every field in the fixture", path, f.Name)
				continue
			}
			assertAllSet(t, fv, path+"."+f.Name)
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			t.Errorf("%s is empty; set every field in the fixture", path)
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			for i := range v.Len() {
				assertAllSet(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
}

// AssertNilMessages fails for every message that is not nil. Give it what
// each response converter makes of a nil response: nil, so that the SDK's
// server guard reports an implementation that returned neither a response
// nor an error (keyed by the converter's name).
func AssertNilMessages(t testing.TB, msgs map[string]proto.Message) {
	t.Helper()
	for name, m := range msgs {
		if m != nil && m.ProtoReflect().IsValid() {
			t.Errorf("%s(nil) = %v, want nil", name, m)
		}
	}
}
