package ui

import "testing"

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		lang string
		n    uint64
		want string
	}{
		{"en", 0, "0 B"},
		{"en", 999, "999 B"},
		{"en", 1000, "1 KB"},
		{"en", 1_500_000, "1.5 MB"},
		{"id", 1_500_000, "1,5 MB"},
		{"en", 50_000_000_000, "50 GB"},
		{"en", 7_250_000_000_000_000, "7250 TB"},
	} {
		if got := formatBytes(tc.lang, tc.n); got != tc.want {
			t.Errorf("formatBytes(%s, %d) = %q; want %q", tc.lang, tc.n, got, tc.want)
		}
	}
}
