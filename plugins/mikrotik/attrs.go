package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// marker starts the comment of every entry the plugin creates: an entry is
// managed when its comment starts with it.
const marker = "mikrobill"

// markComment is the comment the plugin writes: "mikrobill: <comment>", or
// just "mikrobill".
func markComment(c string) string {
	c = strings.TrimSpace(c)
	if c == "" {
		return marker
	}
	return marker + ": " + c
}

// managed reports whether the plugin created the entry with this comment.
func managed(comment string) bool { return strings.HasPrefix(comment, marker) }

// callerComment is the comment as the caller gave it: the marker is
// dropped from managed entries.
func callerComment(comment string) string {
	if !managed(comment) {
		return comment
	}
	c := strings.TrimPrefix(comment, marker)
	c = strings.TrimPrefix(c, ":")
	return strings.TrimSpace(c)
}

// fmtDuration writes a duration the way RouterOS 7 prints it: "1d2h3m4s",
// "30m", "0s". It counts whole seconds; a positive duration under a second
// is one second.
func fmtDuration(d time.Duration) string {
	s := int64(wholeSeconds(d) / time.Second)
	if s == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		unit string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if s >= u.n {
			fmt.Fprintf(&b, "%d%s", s/u.n, u.unit)
			s %= u.n
		}
	}
	return b.String()
}

// wholeSeconds rounds d to whole seconds as the plugin writes it: a
// positive duration under a second is one second.
func wholeSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return max(d.Round(time.Second), time.Second)
}

// parseDuration reads a RouterOS duration in any of the forms it prints or
// takes: "1d2h3m4s", "1w2d", "500ms", "1d02:03:04", "00:30:00", a bare
// number of seconds, and "", "none" or "never" for none (0).
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch s {
	case "", "none", "never", "unlimited":
		return 0, nil
	}
	if n, err := strconv.ParseUint(s, 10, 63); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		num := rest[:i]
		rest = rest[i:]
		if strings.HasPrefix(rest, ":") {
			// The clock form ends the duration: h:mm:ss(.fff).
			clock, err := parseClock(num + rest)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return total + clock, nil
		}
		j := 0
		for j < len(rest) && rest[j] >= 'a' && rest[j] <= 'z' {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		var scale time.Duration
		switch unit {
		case "w":
			scale = 7 * 24 * time.Hour
		case "d":
			scale = 24 * time.Hour
		case "h":
			scale = time.Hour
		case "m":
			scale = time.Minute
		case "s", "":
			scale = time.Second
		case "ms":
			scale = time.Millisecond
		case "us":
			scale = time.Microsecond
		case "ns":
			scale = time.Nanosecond
		default:
			return 0, fmt.Errorf("duration %q: unknown unit %q", s, unit)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		total += time.Duration(math.Round(f * float64(scale)))
		if unit == "" && rest != "" {
			return 0, fmt.Errorf("duration %q: a number without a unit must come last", s)
		}
	}
	return total, nil
}

func parseClock(s string) (time.Duration, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("clock %q: want hh:mm:ss", s)
	}
	h, err1 := strconv.ParseUint(parts[0], 10, 32)
	m, err2 := strconv.ParseUint(parts[1], 10, 8)
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || m > 59 || sec >= 60 || sec < 0 {
		return 0, fmt.Errorf("clock %q: want hh:mm:ss", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(math.Round(sec*float64(time.Second))), nil
}

// parseUint reads a number the router printed; anything else is 0.
func parseUint(s string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return n
}

// parseBytes reads a size: the API prints bytes, the console "29.3MiB".
func parseBytes(s string) uint64 {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n
	}
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 {
				return 0
			}
			return uint64(math.Round(f * u.scale))
		}
	}
	return 0
}

// parseBool reads a RouterOS boolean: "true"/"false" (the API) or
// "yes"/"no" (the console).
func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes":
		return true
	}
	return false
}

// yesNo writes a boolean.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// attr is one property the plugin manages on an entry: the value it writes,
// and how to tell whether the router already holds it.
type attr struct {
	key   string
	value string
	// same reports whether the value the router printed (have; present is
	// false when the router printed none) is the one wanted.
	same func(have string, present bool) bool
	// secret values are never logged.
	secret bool
}

// diff returns the attributes the row does not hold yet.
func diff(row map[string]string, attrs []attr) []attr {
	var out []attr
	for _, a := range attrs {
		have, ok := row[a.key]
		if !a.same(have, ok) {
			out = append(out, a)
		}
	}
	return out
}

func keysOf(attrs []attr) []string {
	keys := make([]string, len(attrs))
	for i, a := range attrs {
		keys[i] = a.key
	}
	return keys
}

// Comparators, each canonicalizing both sides as RouterOS prints them.

// exact: the same string; absent is empty.
func exact(want string) func(string, bool) bool {
	return func(have string, _ bool) bool { return have == want }
}

// present: the same string, and printed (an empty one may be left out).
// Passwords: a router user without the sensitive policy does not see them,
// so they are written every time.
func present(want string) func(string, bool) bool {
	return func(have string, ok bool) bool { return have == want && (ok || want == "") }
}

// withDefault: the same string once each side maps its aliases of the default
// (the first alias) to it: "" and "all" for a hotspot server.
func withDefault(want string, aliases ...string) func(string, bool) bool {
	canon := func(s string) string {
		for _, a := range aliases {
			if strings.EqualFold(s, a) {
				return aliases[0]
			}
		}
		return s
	}
	return func(have string, _ bool) bool { return canon(have) == canon(want) }
}

// sameDuration: durations compare by value ("1h", "01:00:00", "3600").
func sameDuration(want time.Duration) func(string, bool) bool {
	return func(have string, _ bool) bool {
		d, err := parseDuration(have)
		return err == nil && d == wholeSeconds(want)
	}
}

// sameUint: numbers compare by value; absent is 0.
func sameUint(want uint64) func(string, bool) bool {
	return func(have string, _ bool) bool {
		have = strings.TrimSpace(have)
		if have == "" {
			return want == 0
		}
		n, err := strconv.ParseUint(have, 10, 64)
		return err == nil && n == want
	}
}

// sameBool: booleans compare by value; absent is false.
func sameBool(want bool) func(string, bool) bool {
	return func(have string, _ bool) bool { return parseBool(have) == want }
}

// sameMAC: the same address in any case (MAC addresses); absent, empty and
// the zero MAC are alike.
func sameMAC(want string) func(string, bool) bool {
	canon := func(s string) string {
		s = strings.ToUpper(strings.TrimSpace(s))
		if s == "00:00:00:00:00:00" {
			return ""
		}
		return s
	}
	return func(have string, _ bool) bool { return canon(have) == canon(want) }
}
