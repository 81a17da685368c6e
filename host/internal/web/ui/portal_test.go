package ui

import "testing"

// TestFormatBytes: the one byte formatter of the portal and the sessions
// page, in binary units with the language's decimal mark.
func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		lang string
		n    uint64
		want string
	}{
		{"en", 0, "0 B"},
		{"en", 1023, "1023 B"},
		{"en", 1024, "1.0 KiB"},
		{"en", 1_572_864, "1.5 MiB"},
		{"id", 1_572_864, "1,5 MiB"},
		{"en", 50 << 30, "50.0 GiB"},
		{"en", 3 << 50, "3.0 PiB"},
	} {
		if got := formatBytes(tc.lang, tc.n); got != tc.want {
			t.Errorf("formatBytes(%s, %d) = %q; want %q", tc.lang, tc.n, got, tc.want)
		}
	}
}
