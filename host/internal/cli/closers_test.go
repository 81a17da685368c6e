package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/testenv"
)

// TestClosersRunInReverseOnce: the closers run last registered first, each
// once however often close is called, within the shutdown deadline; one
// that fails is logged and the others still run.
func TestClosersRunInReverseOnce(t *testing.T) {
	var logs bytes.Buffer
	c := &closers{log: hclog.New(&hclog.LoggerOptions{Output: &logs}), timeout: time.Minute}
	var ran []string
	for _, name := range []string{"store", "cache", "plugins", "http"} {
		c.add(name, func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Errorf("%s: the closer's context has no deadline", name)
			}
			ran = append(ran, name)
			if name == "plugins" {
				return errors.New("plugin x did not stop")
			}
			return nil
		})
	}
	c.close()
	c.close()
	if diff := cmp.Diff([]string{"http", "plugins", "cache", "store"}, ran); diff != "" {
		t.Errorf("closers ran (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "stop plugins: error=\"plugin x did not stop\"") {
		t.Errorf("the failed closer is not logged:\n%s", logs.String())
	}
}

// TestServeRefusesATakenPortBeforeStarting: serve that cannot listen says
// which address is taken and exits before it starts any plugin (what it
// starts afterwards is stopped in reverse by the closers, TestClosers).
func TestServeRefusesATakenPortBeforeStarting(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	d := testenv.NewPluginDir(t)
	d.Add(testenv.Plugin{Name: "base-layer"})
	d.Add(testenv.Plugin{Name: "top-layer", Deps: []any{"base-layer"}})
	var stdout, stderr bytes.Buffer
	code := Execute([]string{"serve", "--listen", taken.Addr().String(), "--plugin-dir", d.Dir, "--data-dir", t.TempDir()},
		&stdout, &stderr, []string{"PATH=" + os.Getenv("PATH")})
	if code != 1 || !strings.Contains(stderr.String(), "listen on "+taken.Addr().String()) {
		t.Errorf("exit code %d, stderr:\n%s\nwant 1, naming the address", code, stderr.String())
	}
	if got := d.Logged("start"); len(got) != 0 {
		t.Errorf("plugins started %v before serve found the port taken", got)
	}
}
