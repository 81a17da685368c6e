// Command fake-routeros serves a fake MikroTik router (package
// github.com/mikrobill/mikrobill/sdk/routertest) for local demos and tests:
// it speaks the RouterOS API on a loopback port, over in-memory tables
// that start with RouterOS' default profiles and lose everything when it
// stops.
//
//	go run ./sdk/routertest/cmd/fake-routeros --password secret --seed rows.json
//
// Then point the mikrotik plugin's location at 127.0.0.1:8728, user admin.
// Run it with --help for the flags.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/mikrobill/mikrobill/sdk/routertest"
)

const usage = `fake-routeros: a fake MikroTik router for local demos and tests.

It speaks the RouterOS API (the /ip service "api", or "api-ssl" with
--tls-cert and --tls-key) over in-memory tables: hotspot users and user
profiles, PPP secrets and profiles, active sessions, /system/resource and
/system/identity. Nothing is saved: every start begins from RouterOS'
defaults plus the --seed rows. It is not a router and routes nothing.

Usage:
  fake-routeros [flags]

Flags:
`

const seedHelp = `
The --seed file is JSON: rows to add per menu, e.g.
  {
    "/ip/hotspot/user": [{"name": "walk-in", "password": "x", "comment": "not managed"}],
    "/ip/hotspot/active": [{"user": "walk-in", "address": "10.5.50.7", "mac-address": "AA:BB:CC:DD:EE:01"}],
    "/system/resource": [{"cpu-load": "12"}]
  }

Logs go to stderr; passwords are never logged. Stop it with Ctrl-C.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake-routeros:", err)
		os.Exit(2)
	}
}

// run parses args, serves the router until ctx ends, and calls ready (when
// set) once it listens.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(*routertest.Router)) error {
	fs := flag.NewFlagSet("fake-routeros", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8728", "address to listen on (API port 8728, api-ssl 8729)")
	username := fs.String("username", "admin", "API user name")
	password := fs.String("password", "", "API user password (default empty, like a new router)")
	legacy := fs.Bool("legacy-login", false, "log in the pre-6.43 way (MD5 challenge)")
	version := fs.String("version", routertest.DefaultVersion, "RouterOS version /system/resource reports")
	noEmpty := fs.Bool("no-empty", false, "answer an empty print with just !done, as RouterOS before 7.18 did")
	certFile := fs.String("tls-cert", "", "PEM certificate: serve api-ssl (TLS); needs --tls-key")
	keyFile := fs.String("tls-key", "", "PEM private key for --tls-cert")
	seed := fs.String("seed", "", "JSON file of rows to add per menu (see below)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), seedHelp)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	logger := log.New(stderr, "", log.LstdFlags)
	opts := routertest.Options{
		Username:    *username,
		Password:    *password,
		LegacyLogin: *legacy,
		Version:     *version,
		NoEmpty:     *noEmpty,
		Logf:        logger.Printf,
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	r := routertest.New(opts)
	if *seed != "" {
		if err := loadSeed(r, *seed); err != nil {
			return err
		}
	}
	if err := r.Listen(*listen); err != nil {
		return err
	}
	defer r.Close()
	logger.Printf("fake RouterOS %s listening on %s (user %q, tls %v, legacy login %v)",
		*version, r.Addr(), *username, opts.TLS != nil, *legacy)
	if ready != nil {
		ready(r)
	}
	<-ctx.Done()
	logger.Printf("stopping")
	return nil
}

// loadSeed adds the rows of a seed file: {"menu": [{attr: value}, ...]}.
func loadSeed(r *routertest.Router, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read seed: %w", err)
	}
	var seed map[string][]map[string]string
	if err := json.Unmarshal(b, &seed); err != nil {
		return fmt.Errorf("seed %s: %w (want {\"/menu/path\": [{\"attr\": \"value\"}]})", path, err)
	}
	menus := make([]string, 0, len(seed))
	for m := range seed {
		menus = append(menus, m)
	}
	sort.Strings(menus) // a stable order, so .ids are the same every start
	for _, m := range menus {
		if len(m) == 0 || m[0] != '/' {
			return fmt.Errorf("seed %s: menu %q must start with /", path, m)
		}
		for _, row := range seed[m] {
			r.Add(m, row)
		}
	}
	return nil
}
