//go:build linux

package main

import (
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// go-routeros' default log handler writes to the process's stdout, which
// belongs to the go-plugin handshake. With file descriptor 1 taken over,
// every operation (at trace level, both logins, a reconnect) must write
// nothing there: the library's records go to the plugin's logger instead.
//
// Not parallel: it takes the process's stdout for a moment.
func TestNoStdout(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		r := routertest.Start(t, routertest.Options{Password: routerPassword, LegacyLogin: legacy})
		p, logs := newPlugin(t)

		out := sdktest.CaptureStdout(t, func() {
			configure(t, p, map[string]any{"locations": []any{loc("main", r, routerPassword)}})
			everyOperation(t, p, p, r)
		})
		if out != "" {
			t.Errorf("legacy=%v: %d bytes on stdout:\n%s", legacy, len(out), out)
		}
		if !strings.Contains(logs.String(), "go-routeros: RunArgsContext") {
			t.Error("go-routeros' records did not reach the plugin's logger")
		}
	}
}
