package cli

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestPprofLoopbackOnly: --pprof-listen refuses an address other hosts
// could reach, serves the heap profile on a loopback one, and stops with
// the closers.
func TestPprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0", "127.0.0.1"} {
		stop := &closers{log: hclog.NewNullLogger(), timeout: time.Second}
		err := startPprof(addr, hclog.NewNullLogger(), stop)
		if err == nil || !strings.Contains(err.Error(), "--pprof-listen") {
			t.Errorf("startPprof(%q) = %v; want a refusal naming --pprof-listen", addr, err)
		}
		stop.close()
	}

	var logged strings.Builder
	log := hclog.New(&hclog.LoggerOptions{Output: &logged})
	stop := &closers{log: log, timeout: 5 * time.Second}
	if err := startPprof("127.0.0.1:0", log, stop); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`address=(http://127\.0\.0\.1:\d+/debug/pprof/)`).FindStringSubmatch(logged.String())
	if m == nil {
		stop.close()
		t.Fatalf("no address logged: %s", logged.String())
	}
	resp, err := http.Get(m[1] + "heap?debug=1")
	if err != nil {
		stop.close()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "heap profile:") {
		t.Errorf("GET heap: %d %.200s", resp.StatusCode, body)
	}
	stop.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m[1], nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Error("the pprof server still answers after the closers ran")
	}
}
