package cli

import (
	"net"
	"regexp"
	"testing"
)

func TestServingURLs(t *testing.T) {
	for _, tt := range []struct {
		addr               string
		listening, browser string
	}{
		{"127.0.0.1:3000", "http://127.0.0.1:3000", ""},
		{"0.0.0.0:8080", "http://0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"[::]:8080", "http://[::]:8080", "http://127.0.0.1:8080"},
		{"192.168.88.2:3000", "http://192.168.88.2:3000", ""},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if l, o := servingURLs(addr); l != tt.listening || o != tt.browser {
			t.Errorf("servingURLs(%s) = %q, %q; want %q, %q", tt.addr, l, o, tt.listening, tt.browser)
		}
	}
}

// TestServePrintsTheAddressItServes: with --listen 127.0.0.1:0 the serving
// line names the port the system gave, not 0 nor the default 3000.
func TestServePrintsTheAddressItServes(t *testing.T) {
	h := startHost(t, t.TempDir())
	m := regexp.MustCompile(`serving: address=(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(h.stderr.String())
	if m == nil || m[1] != "http://"+h.addr {
		t.Errorf("the serving line %q does not name the listener %s:\n%s", m, h.addr, h.stderr.String())
	}
}
