package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestHelp(t *testing.T) {
	var out sdktest.Buffer
	err := run(context.Background(), []string{"--help"}, &out, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run --help: %v", err)
	}
	for _, want := range []string{"fake MikroTik router", "local demos and tests", "--seed", "-legacy-login", "-tls-cert"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadArgs(t *testing.T) {
	for _, args := range [][]string{
		{"--tls-cert", "x.pem"},
		{"extra"},
		{"--seed", filepath.Join(t.TempDir(), "missing.json")},
		{"--listen", "256.0.0.1:1"},
	} {
		if err := run(context.Background(), args, &sdktest.Buffer{}, nil); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}

func TestServe(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.json")
	err := os.WriteFile(seed, []byte(`{
		"/ip/hotspot/user": [{"name": "walk-in", "password": "x", "comment": "not managed"}],
		"/ip/hotspot/active": [{"user": "walk-in", "address": "10.5.50.7"}],
		"/system/resource": [{"cpu-load": "12"}]
	}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out sdktest.Buffer
	ready := make(chan *routertest.Router, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--password", "hunter2", "--seed", seed},
			&out, func(r *routertest.Router) { ready <- r })
	}()
	var r *routertest.Router
	select {
	case r = <-ready:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, out.String())
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	if u, ok := r.Find("/ip/hotspot/user", "walk-in"); !ok || u["comment"] != "not managed" {
		t.Errorf("seeded user: %v", u)
	}
	if s, ok := r.Find("/ip/hotspot/active", "walk-in"); !ok || s["address"] != "10.5.50.7" {
		t.Errorf("seeded session: %v", s)
	}
	if res := r.Rows("/system/resource"); res[0]["cpu-load"] != "12" {
		t.Errorf("seeded resource: %v", res)
	}

	// Log in over the wire; the password must not reach the log.
	nc, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var sentence []byte
	for _, w := range []string{"/login", "=name=admin", "=password=hunter2"} {
		sentence = append(sentence, byte(len(w)))
		sentence = append(sentence, w...)
	}
	if _, err := nc.Write(append(sentence, 0)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply := make([]byte, 6)
	if _, err := br.Read(reply); err != nil || string(reply) != "\x05!done" {
		t.Fatalf("login reply %q, %v", reply, err)
	}
	if r.Logins() != 1 {
		t.Errorf("Logins %d", r.Logins())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	log := out.String()
	if !strings.Contains(log, "listening on "+r.Addr()) || !strings.Contains(log, "logged in") {
		t.Errorf("log lacks the address or the login:\n%s", log)
	}
	if strings.Contains(log, "hunter2") {
		t.Errorf("log shows the password:\n%s", log)
	}
}
