package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/routertest"
)

var alice = router.User{Kind: router.KindHotspot, Name: "alice", Password: "alice-pw"}

func upsertAlice(t *testing.T, p *Plugin) (*router.UpsertUserResponse, error) {
	t.Helper()
	return p.UpsertUser(ctxT(t), &router.UpsertUserRequest{Location: "main", User: alice})
}

func TestLogins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts routertest.Options
	}{
		{"6.43 and later", routertest.Options{Username: "admin", Password: "router-pw"}},
		{"before 6.43 (challenge)", routertest.Options{Username: "admin", Password: "router-pw", LegacyLogin: true, Version: "6.40.9 (bugfix)"}},
		{"empty password", routertest.Options{}},
		// A pre-6.43 router that refuses the plain login instead of
		// answering it with a challenge: the plugin asks for one.
		{"before 6.43, plain login refused", routertest.Options{Password: "router-pw", LegacyLogin: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := routertest.Start(t, tc.opts)
			refuse := strings.HasSuffix(tc.name, "refused")
			if refuse {
				r.Inject("/login", routertest.Fault{Trap: "invalid user name or password (6)"})
			}
			p, _ := newPlugin(t)
			configure(t, p, map[string]any{"locations": []any{loc("main", r, tc.opts.Password)}})
			if _, err := upsertAlice(t, p); err != nil {
				t.Fatalf("UpsertUser: %v", err)
			}
			if _, err := upsertAlice(t, p); err != nil {
				t.Fatalf("UpsertUser again: %v", err)
			}
			if r.Logins() != 1 {
				t.Errorf("%d logins, want 1 (one connection, kept)", r.Logins())
			}
			if refuse {
				var words []string
				for _, c := range r.Commands()[:3] {
					words = append(words, fmt.Sprintf("%s %d", c.Word, len(c.Attrs)))
				}
				if got := strings.Join(words, ", "); got != "/login 2, /login 0, /login 2" {
					t.Errorf("login commands = %s, want the plain login, a bare /login, the response", got)
				}
			}
			if tc.opts.LegacyLogin {
				var sawResponse bool
				for _, c := range r.Commands() {
					if c.Word == "/login" && c.Attrs["response"] != "" {
						sawResponse = true
					}
				}
				if !sawResponse {
					t.Error("no challenge response sent")
				}
			}
		})
	}
}

func TestBadLogin(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			t.Parallel()
			r := routertest.Start(t, routertest.Options{Password: "right", LegacyLogin: legacy})
			p, _ := newPlugin(t)
			configure(t, p, map[string]any{"locations": []any{loc("main", r, "wrong")}})
			_, err := upsertAlice(t, p)
			wantErr(t, "UpsertUser", err, router.ErrRouterUnreachable, sdk.ErrUnavailable)
			if !strings.Contains(err.Error(), "login as \"admin\" refused") || strings.Contains(err.Error(), "wrong") {
				t.Errorf("error = %q, want it to say the login was refused (and not repeat the password)", err)
			}
			h := must[*sdk.CheckHealthResponse](t, "CheckHealth")(p.CheckHealth(ctxT(t), &sdk.CheckHealthRequest{}))
			d := h.Details["main"].(map[string]any)
			if h.Status != sdk.HealthError || d["reachable"] != true || d["login_ok"] != false {
				t.Errorf("health = %+v", h)
			}
		})
	}
}

// tlsFixture is a CA, and a certificate for 127.0.0.1 it signed.
type tlsFixture struct {
	caPEM     string
	serverCfg *tls.Config
	leafSHA   [32]byte
}

func newCert(t *testing.T, template, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func newTLSFixture(t *testing.T) tlsFixture {
	t.Helper()
	now := time.Now()
	ca, caKey := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	leaf, leafKey := newCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "router"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"router.example.net"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, caKey)
	return tlsFixture{
		caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})),
		serverCfg: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw, ca.Raw}, PrivateKey: leafKey, Leaf: leaf}},
			MinVersion: tls.VersionTLS12},
		leafSHA: sha256.Sum256(leaf.Raw),
	}
}

// colonHex writes a fingerprint as openssl does: "AB:CD:...".
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

func TestTLS(t *testing.T) {
	t.Parallel()
	fx := newTLSFixture(t)
	other := newTLSFixture(t)
	for _, tc := range []struct {
		name    string
		extra   map[string]any
		wantErr string
	}{
		{"CA", map[string]any{"ca_pem": fx.caPEM}, ""},
		{"CA and server name", map[string]any{"ca_pem": fx.caPEM, "server_name": "router.example.net"}, ""},
		{"pinned", map[string]any{"cert_sha256": colonHex(fx.leafSHA[:])}, ""},
		{"CA and pin", map[string]any{"ca_pem": fx.caPEM, "cert_sha256": fmt.Sprintf("%x", fx.leafSHA)}, ""},
		{"wrong CA", map[string]any{"ca_pem": other.caPEM}, "certificate signed by unknown authority"},
		{"wrong name", map[string]any{"ca_pem": fx.caPEM, "server_name": "other.example.net"}, "other.example.net"},
		{"wrong pin", map[string]any{"cert_sha256": fmt.Sprintf("%x", other.leafSHA)}, "update cert_sha256"},
		{"system roots", nil, "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := routertest.Start(t, routertest.Options{Password: "pw", TLS: fx.serverCfg})
			p, _ := newPlugin(t)
			l := loc("main", r, "pw")
			l["tls"] = true
			for k, v := range tc.extra {
				l[k] = v
			}
			configure(t, p, map[string]any{"locations": []any{l}})
			_, err := upsertAlice(t, p)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("UpsertUser over TLS: %v", err)
				}
				if _, ok := r.Find(hsUser, "alice"); !ok {
					t.Error("alice not on the router")
				}
				return
			}
			wantErr(t, "UpsertUser", err, router.ErrRouterUnreachable)
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantErr)
			}
			if r.Logins() != 0 {
				t.Error("logged in over an untrusted connection")
			}
		})
	}
}

// RouterOS 7.18 answers a print without rows with !empty; older ones with
// just !done.
func TestEmptyPrints(t *testing.T) {
	t.Parallel()
	for _, noEmpty := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoEmpty=%v", noEmpty), func(t *testing.T) {
			t.Parallel()
			p, r, _ := setup(t, routertest.Options{NoEmpty: noEmpty})
			ctx := ctxT(t)
			users := must[*router.ListUsersResponse](t, "ListUsers")(p.ListUsers(ctx, &router.ListUsersRequest{Location: "main", Kind: router.KindPPP}))
			if len(users.Users) != 0 {
				t.Errorf("users = %+v", users.Users)
			}
			sessions := must[*router.ListActiveSessionsResponse](t, "ListActiveSessions")(p.ListActiveSessions(ctx, &router.ListActiveSessionsRequest{Location: "main"}))
			if len(sessions.Sessions) != 0 {
				t.Errorf("sessions = %+v", sessions.Sessions)
			}
			_, err := p.GetUser(ctx, &router.GetUserRequest{User: router.UserRef{Location: "main", Kind: router.KindHotspot, Name: "x"}})
			wantErr(t, "GetUser", err, sdk.ErrNotFound)
			if _, err := upsertAlice(t, p); err != nil {
				t.Fatal(err)
			}
			if r.Logins() != 1 {
				t.Errorf("%d logins: the connection did not survive the empty prints", r.Logins())
			}
		})
	}
}

func TestTraps(t *testing.T) {
	t.Parallel()
	p, r, _ := setup(t, routertest.Options{})
	ctx := ctxT(t)
	r.Inject(hsUser+"/add", routertest.Fault{Trap: "invalid value for argument limit-bytes-total"})
	_, err := upsertAlice(t, p)
	wantErr(t, "UpsertUser", err, sdk.ErrInvalidArgument)
	if !strings.Contains(err.Error(), "invalid value for argument limit-bytes-total") || !strings.Contains(err.Error(), "/ip/hotspot/user/add") {
		t.Errorf("error = %q, want the router's message and the command", err)
	}
	r.Inject(hsUser+"/add", routertest.Fault{Trap: "not enough permissions (9)"})
	_, err = upsertAlice(t, p)
	wantErr(t, "UpsertUser", err, sdk.ErrFailedPrecondition)
	if !strings.Contains(err.Error(), "write polic") {
		t.Errorf("error = %q, want a hint about the write policy", err)
	}
	r.Inject(hsUser+"/add", routertest.Fault{Trap: "failure: already have user with this name"})
	_, err = upsertAlice(t, p)
	wantErr(t, "UpsertUser", err, sdk.ErrConflict)
	// A trap leaves the connection usable: no new login.
	if _, err := upsertAlice(t, p); err != nil {
		t.Fatal(err)
	}
	if r.Logins() != 1 {
		t.Errorf("%d logins after traps, want 1", r.Logins())
	}
	_, err = p.EnsureProfile(ctx, &router.EnsureProfileRequest{Location: "main", Profile: router.Profile{Kind: router.KindPPP, Name: "p", LocalAddress: "10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	// A !fatal ends the connection: the operation runs again on a new one.
	r.Inject(hsUser+"/print", routertest.Fault{Fatal: "session terminated"})
	if _, err := upsertAlice(t, p); err != nil {
		t.Fatalf("UpsertUser after !fatal: %v", err)
	}
	if r.Logins() != 2 {
		t.Errorf("%d logins after !fatal, want 2", r.Logins())
	}
}

func TestCommandTimeout(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	p, _ := newPlugin(t)
	configure(t, p, map[string]any{"locations": []any{loc("main", r, "")}, "command_timeout_seconds": 1})
	if _, err := upsertAlice(t, p); err != nil {
		t.Fatal(err)
	}
	r.Inject(hsUser+"/print", routertest.Fault{Delay: 5 * time.Second})
	start := time.Now()
	_, err := upsertAlice(t, p)
	took := time.Since(start)
	wantErr(t, "UpsertUser of a slow router", err, router.ErrRouterUnreachable)
	if took > 2500*time.Millisecond || took < 900*time.Millisecond {
		t.Errorf("failed after %s, want about the 1s command timeout", took)
	}
	if !strings.Contains(err.Error(), "no answer to /ip/hotspot/user/print within 1s") {
		t.Errorf("error = %q", err)
	}
	// Not retried: one print reached the router.
	if n := r.CountCommands(hsUser + "/print"); n != 3 { // first upsert: find + re-read; second: the slow find
		t.Errorf("%d prints, want 3 (no retry after a timeout)", n)
	}
	// The next call gets a new connection.
	if _, err := upsertAlice(t, p); err != nil {
		t.Fatalf("UpsertUser after the timeout: %v", err)
	}
	if r.Logins() != 2 {
		t.Errorf("%d logins, want 2", r.Logins())
	}
	// The caller's deadline wins when it is shorter.
	r.Inject(hsUser+"/print", routertest.Fault{Delay: 5 * time.Second})
	ctx, cancel := contextWithTimeout(200 * time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = p.UpsertUser(ctx, &router.UpsertUserRequest{Location: "main", User: alice})
	if err == nil || time.Since(start) > time.Second {
		t.Errorf("UpsertUser with a 200ms deadline: %v after %s", err, time.Since(start))
	}
}

// A router that reboots in the middle of a command: the operation runs
// again on a new connection, re-reads, and does not write twice.
func TestReconnectMidCommand(t *testing.T) {
	t.Parallel()
	t.Run("RestartAfter add", func(t *testing.T) {
		t.Parallel()
		p, r, _ := setup(t, routertest.Options{})
		r.Inject(hsUser+"/add", routertest.Fault{RestartAfter: true})
		resp, err := upsertAlice(t, p)
		if err != nil {
			t.Fatalf("UpsertUser across a reboot: %v", err)
		}
		if !resp.Created || !resp.Changed {
			t.Errorf("UpsertUser across a reboot: %+v, want Created and Changed", resp)
		}
		if n := r.CountCommands(hsUser + "/add"); n != 1 {
			t.Errorf("%d adds, want 1 (the retry re-reads and finds the user)", n)
		}
		if r.Logins() != 2 {
			t.Errorf("%d logins, want 2", r.Logins())
		}
	})
	t.Run("Drop set", func(t *testing.T) {
		t.Parallel()
		p, r, _ := setup(t, routertest.Options{})
		if _, err := upsertAlice(t, p); err != nil {
			t.Fatal(err)
		}
		r.Inject(hsUser+"/set", routertest.Fault{Drop: true})
		changed := alice
		changed.Password = "changed"
		resp, err := p.UpsertUser(ctxT(t), &router.UpsertUserRequest{Location: "main", User: changed})
		if err != nil {
			t.Fatalf("UpsertUser with a dropped set: %v", err)
		}
		if row, _ := r.Find(hsUser, "alice"); !resp.Changed || row["password"] != "changed" {
			t.Errorf("after the retry: %+v, router password %q", resp, row["password"])
		}
		if n := r.CountCommands(hsUser + "/set"); n != 2 {
			t.Errorf("%d sets, want 2 (the dropped one and the retry)", n)
		}
	})
	t.Run("RestartAfter disable", func(t *testing.T) {
		t.Parallel()
		p, r, _ := setup(t, routertest.Options{})
		if _, err := upsertAlice(t, p); err != nil {
			t.Fatal(err)
		}
		r.Inject(hsUser+"/disable", routertest.Fault{RestartAfter: true})
		resp, err := p.DisableUser(ctxT(t), &router.DisableUserRequest{User: router.UserRef{Location: "main", Kind: router.KindHotspot, Name: "alice"}})
		if err != nil {
			t.Fatalf("DisableUser across a reboot: %v", err)
		}
		if row, _ := r.Find(hsUser, "alice"); row["disabled"] != "true" {
			t.Errorf("after the retry: %+v, router %v", resp, row)
		}
		if n := r.CountCommands(hsUser + "/disable"); n != 1 {
			t.Errorf("%d disables, want 1", n)
		}
	})
	t.Run("reboot between calls", func(t *testing.T) {
		t.Parallel()
		p, r, _ := setup(t, routertest.Options{})
		if _, err := upsertAlice(t, p); err != nil {
			t.Fatal(err)
		}
		r.Restart()
		if _, err := p.GetUser(ctxT(t), &router.GetUserRequest{User: router.UserRef{Location: "main", Kind: router.KindHotspot, Name: "alice"}}); err != nil {
			t.Fatalf("GetUser after a reboot: %v", err)
		}
		metrics := string(must[*sdk.CollectMetricsResponse](t, "CollectMetrics")(p.CollectMetrics(ctxT(t), &sdk.CollectMetricsRequest{})).Text)
		if !strings.Contains(metrics, `mikrobill_router_reconnects_total{location="main"} 1`) {
			t.Errorf("metrics lack the reconnect:\n%s", metrics)
		}
	})
	t.Run("down, then back", func(t *testing.T) {
		t.Parallel()
		p, r, _ := setup(t, routertest.Options{})
		if _, err := upsertAlice(t, p); err != nil {
			t.Fatal(err)
		}
		r.Stop()
		_, err := upsertAlice(t, p)
		wantErr(t, "UpsertUser while the router is off", err, router.ErrRouterUnreachable)
		if !strings.Contains(err.Error(), "api service") {
			t.Errorf("error = %q, want a hint about the api service", err)
		}
		r.Resume()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err = upsertAlice(t, p)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // the backoff (10ms to 100ms here)
		}
		if err != nil {
			t.Fatalf("UpsertUser after the router came back: %v", err)
		}
	})
}
