package main

import (
	"testing"
	"time"
)

func TestDurations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"none", 0}, {"0s", 0}, {"00:00:00", 0},
		{"1h", time.Hour}, {"01:00:00", time.Hour}, {"3600", time.Hour},
		{"00:30:00", 30 * time.Minute}, {"30m", 30 * time.Minute},
		{"1d2h3m4s", 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"1d02:03:04", 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"1w2d3h4m5s", 9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{"1w2d03:04:05", 9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{"500ms", 500 * time.Millisecond}, {"1s500ms", 1500 * time.Millisecond},
		{"12:00:00.5", 12*time.Hour + 500*time.Millisecond},
	} {
		got, err := parseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"1x", "h", "1:2", "01:61:00", "5 minutes"} {
		if d, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, d)
		}
	}
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"}, {-time.Second, "0s"}, {time.Millisecond, "1s"}, {1400 * time.Millisecond, "1s"},
		{time.Hour, "1h"}, {90 * time.Minute, "1h30m"}, {26*time.Hour + 3*time.Minute + 4*time.Second, "1d2h3m4s"},
		{30 * 24 * time.Hour, "30d"}, {61 * time.Second, "1m1s"},
	} {
		if got := fmtDuration(tc.in); got != tc.want {
			t.Errorf("fmtDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := parseDuration(fmtDuration(tc.in)); err != nil || back != wholeSeconds(tc.in) {
			t.Errorf("parseDuration(fmtDuration(%v)) = %v, %v", tc.in, back, err)
		}
	}
}

func TestComments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		caller, written string
	}{
		{"", "mikrobill"}, {"  ", "mikrobill"}, {"customer 7", "mikrobill: customer 7"},
	} {
		if got := markComment(tc.caller); got != tc.written {
			t.Errorf("markComment(%q) = %q, want %q", tc.caller, got, tc.written)
		}
		if !managed(tc.written) || callerComment(tc.written) != stringsTrim(tc.caller) {
			t.Errorf("%q: managed %v, caller comment %q", tc.written, managed(tc.written), callerComment(tc.written))
		}
	}
	for _, c := range []string{"", "office", "Mikrobill", " mikrobill"} {
		if managed(c) {
			t.Errorf("managed(%q) = true", c)
		}
		if callerComment(c) != c {
			t.Errorf("callerComment(%q) = %q", c, callerComment(c))
		}
	}
}

func stringsTrim(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

func TestCompare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		same    func(string, bool) bool
		have    string
		present bool
		want    bool
	}{
		{"duration forms", sameDuration(time.Hour), "01:00:00", true, true},
		{"duration none", sameDuration(0), "none", true, true},
		{"duration absent", sameDuration(0), "", false, true},
		{"duration differs", sameDuration(time.Hour), "59m", true, false},
		{"bool true/yes", sameBool(true), "true", true, true},
		{"bool absent", sameBool(false), "", false, true},
		{"bool differs", sameBool(false), "yes", true, false},
		{"mac case", sameMAC("AA:BB:CC:00:11:22"), "aa:bb:cc:00:11:22", true, true},
		{"mac zero", sameMAC("00:00:00:00:00:00"), "", false, true},
		{"server all", withDefault("all", "all", ""), "", false, true},
		{"server named", withDefault("hs1", "all", ""), "all", true, false},
		{"uint absent", sameUint(0), "", false, true},
		{"uint", sameUint(5), "5", true, true},
		{"password hidden", present("pw"), "", false, false},
		{"password empty", present(""), "", false, true},
		{"password", present("pw"), "pw", true, true},
		{"only-one", sameOnlyOne("yes"), "true", true, true},
		{"only-one default", sameOnlyOne("default"), "", false, true},
	} {
		if got := tc.same(tc.have, tc.present); got != tc.want {
			t.Errorf("%s: same(%q, %v) = %v, want %v", tc.name, tc.have, tc.present, got, tc.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"1024": 1024, "": 0, "1.5KiB": 1536, "2MiB": 2 << 20, "x": 0} {
		if got := parseBytes(in); got != want {
			t.Errorf("parseBytes(%q) = %d, want %d", in, got, want)
		}
	}
}
