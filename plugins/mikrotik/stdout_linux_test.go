//go:build linux

package main

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/mikrobill/mikrobill/sdk/routertest"
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

		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		saved, err := syscall.Dup(1)
		if err != nil {
			t.Fatal(err)
		}
		read := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(pr)
			read <- string(b)
		}()
		if err := syscall.Dup3(int(pw.Fd()), 1, 0); err != nil {
			t.Fatal(err)
		}
		restored := false
		restore := func() {
			if !restored {
				restored = true
				_ = syscall.Dup3(saved, 1, 0)
				_ = syscall.Close(saved)
				_ = pw.Close()
			}
		}
		func() {
			defer restore()
			configure(t, p, map[string]any{"locations": []any{loc("main", r, routerPassword)}})
			everyOperation(t, p, p, r)
		}()
		if out := <-read; out != "" {
			t.Errorf("legacy=%v: %d bytes on stdout:\n%s", legacy, len(out), out)
		}
		_ = pr.Close()
		if !strings.Contains(logs.String(), "go-routeros: RunArgsContext") {
			t.Error("go-routeros' records did not reach the plugin's logger")
		}
	}
}
