// Package convert holds the small conversions between Go values and protobuf
// well-known and common types that several SDK packages share. It knows no SDK
// types, so every SDK package can import it; the one converter pair of the
// SDK's HTTP request and response, which package sdk writes and the kind
// packages use too, reaches them through it (HTTPPair).
package convert

import (
	"math"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pluginv1 "github.com/mikrobill/mikrobill/sdk/internal/pb/mikrobill/plugin/v1"
)

// Text returns s fit for a protocol string field. Protobuf strings are
// UTF-8, and gRPC refuses to send a message with one that is not ("string
// field contains invalid UTF-8"), while HTTP lets header values, paths and
// query strings carry any byte: one such request to /webhooks/<plugin>
// would fail the whole call. Each run of bytes that are not UTF-8 becomes
// U+FFFD (as strings.ToValidUTF8 does); valid text is returned as it is.
func Text(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// HeaderToProto converts an http.Header, keeping each header's values in
// order; names and values that are not UTF-8 are made so ([Text]).
func HeaderToProto(h http.Header) []*pluginv1.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]*pluginv1.Header, 0, len(h))
	for name, values := range h {
		vs := make([]string, len(values))
		for i, v := range values {
			vs[i] = Text(v)
		}
		out = append(out, &pluginv1.Header{Name: Text(name), Values: vs})
	}
	return out
}

// HeaderFromProto converts headers back to an http.Header (names
// canonicalised). No headers give a nil http.Header, which reads as empty.
func HeaderFromProto(hs []*pluginv1.Header) http.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make(http.Header, len(hs))
	for _, h := range hs {
		key := http.CanonicalHeaderKey(h.GetName())
		out[key] = append(out[key], h.GetValues()...)
	}
	return out
}

// CountToProto converts a count to a uint32 field, clamping it to the range
// of uint32.
func CountToProto(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case uint64(n) > math.MaxUint32:
		return math.MaxUint32
	default:
		return uint32(n)
	}
}

// TimeToProto converts a time; the zero time becomes nil.
func TimeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// TimeFromProto converts a timestamp; nil becomes the zero time.
func TimeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// DurationToProto converts a duration; zero becomes nil.
func DurationToProto(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// DurationFromProto converts a duration; nil becomes zero.
func DurationFromProto(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

// MapToStruct converts JSON-compatible values (and common Go numbers, string
// slices, times and durations) to a Struct. It returns an error for values
// that JSON cannot represent.
func MapToStruct(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return structpb.NewStruct(normalize(m).(map[string]any))
}

// StructToMap converts a Struct back to plain Go values (nil for nil).
func StructToMap(s *structpb.Struct) map[string]any {
	if s == nil {
		return nil
	}
	return s.AsMap()
}

// normalize turns common Go values that structpb does not accept (typed
// slices and maps, integers of every size, time values) into ones it does.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	default:
		return v
	}
}
