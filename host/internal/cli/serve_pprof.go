package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/hashicorp/go-hclog"
)

// startPprof serves Go's runtime profiles (net/http/pprof: heap,
// goroutine, CPU profile...) on addr, a loopback address only: they show
// the process's memory and code, so they are for an operator on the
// machine, never for the network. It is off unless serve --pprof-listen
// gives an address. docs/BENCHMARKS.md ("Idle host memory") takes the
// host's heap profile through it.
func startPprof(addr string, log hclog.Logger, stop *closers) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen %q: %w; give a loopback host:port such as 127.0.0.1:6060", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--pprof-listen %q: the profiles are served on a loopback address only (127.0.0.1, ::1 or localhost), as they show the process's memory; use an SSH tunnel to reach them from elsewhere", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof server", "error", err)
		}
	}()
	stop.add("pprof", func(ctx context.Context) error { return srv.Shutdown(ctx) })
	log.Info("serving Go runtime profiles (--pprof-listen)", "address", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}
