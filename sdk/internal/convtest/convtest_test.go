package convtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// recorder is a testing.TB that keeps what a helper reports.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
}

type item struct {
	Name  string
	Price int
}

type fixture struct {
	Name    string
	When    time.Time
	Items   []item
	Labels  map[string]string
	Raw     []byte
	Next    *item
	private int
}

func TestAssertAllSet(t *testing.T) {
	full := fixture{
		Name:   "a",
		When:   time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC),
		Items:  []item{{Name: "x", Price: 1}, {Name: "y", Price: 2}},
		Labels: map[string]string{"k": "v"},
		Raw:    []byte("r"),
		Next:   &item{Name: "n", Price: 3},
	}
	tests := []struct {
		name string
		in   any
		want []string
	}{
		{name: "all set", in: full},
		{name: "all set, by pointer", in: &full},
		{name: "zero fields", in: fixture{Items: []item{{Name: "x", Price: 1}, {Name: "y"}}, Labels: map[string]string{}, Next: &item{Price: 3}}, want: []string{
			"in.Name is the zero value; set every field in the fixture",
			"in.When is the zero value; set every field in the fixture",
			"in.Items[1].Price is the zero value; set every field in the fixture",
			"in.Labels is empty; set every field in the fixture",
			"in.Raw is the zero value; set every field in the fixture",
			"in.Next.Name is the zero value; set every field in the fixture",
		}},
		{name: "nil pointer", in: (*fixture)(nil), want: []string{"in is nil; set every field in the fixture"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			AssertAllSet(r, tt.in)
			if diff := cmp.Diff(tt.want, r.errors); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

// fields is a Go value with two fields, converted to and from a Struct.
type fields struct {
	A string
	B string
}

func fieldsToProto(f fields) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewStringValue(f.A), "b": structpb.NewStringValue(f.B)}}
}

func fieldsFromProto(s *structpb.Struct) fields {
	return fields{A: s.GetFields()["a"].GetStringValue(), B: s.GetFields()["b"].GetStringValue()}
}

// forgetsB converts B to proto but never back: the field a converter forgot.
func forgetsB(s *structpb.Struct) fields {
	return fields{A: s.GetFields()["a"].GetStringValue()}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		c         Case
		wantError bool
	}{
		{name: "converters agree", c: RoundTrip("fields", fields{A: "1", B: "2"}, true, fieldsToProto, fieldsFromProto)},
		{name: "a field lost on the way back", c: RoundTrip("fields", fields{A: "1", B: "2"}, true, fieldsToProto, forgetsB), wantError: true},
		{name: "a fixture that leaves a field unset", c: RoundTrip("fields", fields{A: "1"}, true, fieldsToProto, fieldsFromProto), wantError: true},
		{name: "zero value, not full", c: RoundTrip("fields", fields{}, false, fieldsToProto, fieldsFromProto)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			tt.c.run(r)
			if got := len(r.errors) > 0; got != tt.wantError {
				t.Errorf("reported %q; want an error: %v", r.errors, tt.wantError)
			}
		})
	}
}

func TestAssertNilMessages(t *testing.T) {
	r := &recorder{TB: t}
	AssertNilMessages(r, map[string]proto.Message{
		"untyped":   nil,
		"typed":     (*structpb.Struct)(nil),
		"a message": &structpb.Struct{},
	})
	want := []string{"a message(nil) = , want nil"}
	if diff := cmp.Diff(want, r.errors); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}
