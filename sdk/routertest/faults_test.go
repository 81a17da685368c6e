package routertest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mikrobill/mikrobill/sdk/routertest"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})

	t.Run("delay", func(t *testing.T) {
		c := dialRaw(t, r)
		c.login("admin", "")
		r.Inject("/ip/hotspot/user/add", routertest.Fault{Delay: 150 * time.Millisecond})
		start := time.Now()
		doneRet(t, c.run("/ip/hotspot/user/add", "=name=slow"))
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("answered after %v; want at least the 150ms delay", d)
		}
		if _, ok := r.Find("/ip/hotspot/user", "slow"); !ok {
			t.Error("delayed add not applied")
		}
	})
	t.Run("drop", func(t *testing.T) {
		c := dialRaw(t, r)
		c.login("admin", "")
		r.Inject("/ip/hotspot/user/add", routertest.Fault{Drop: true})
		c.send("/ip/hotspot/user/add", "=name=dropped")
		c.expectEOF()
		if _, ok := r.Find("/ip/hotspot/user", "dropped"); ok {
			t.Error("dropped command applied")
		}
	})
	t.Run("trap", func(t *testing.T) {
		c := dialRaw(t, r)
		c.login("admin", "")
		r.Inject("/ip/hotspot/user/add", routertest.Fault{Trap: "failure: out of memory"})
		if got := trapMessage(t, c.run("/ip/hotspot/user/add", "=name=trapped")); got != "failure: out of memory" {
			t.Errorf("trap %q", got)
		}
		if _, ok := r.Find("/ip/hotspot/user", "trapped"); ok {
			t.Error("trapped command applied")
		}
		doneRet(t, c.run("/ip/hotspot/user/add", "=name=trapped")) // once only; the connection goes on
	})
	t.Run("fatal", func(t *testing.T) {
		c := dialRaw(t, r)
		c.login("admin", "")
		r.Inject("", routertest.Fault{Fatal: "out of sessions"})
		if diff := cmp.Diff([][]string{{"!fatal", "out of sessions"}}, c.run("/system/identity/print", ".tag=9")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		c.expectEOF()
	})
	t.Run("restart after", func(t *testing.T) {
		c := dialRaw(t, r)
		c.login("admin", "")
		other := dialRaw(t, r)
		other.login("admin", "")
		sdktest.WaitFor(t, 5*time.Second, "2 connections", func() bool { return r.Connections() == 2 })
		r.Inject("/ppp/secret/add", routertest.Fault{RestartAfter: true})
		c.send("/ppp/secret/add", "=name=rebooted")
		c.expectEOF()
		other.expectEOF()
		if _, ok := r.Find("/ppp/secret", "rebooted"); !ok {
			t.Error("command not applied before the restart")
		}
		if n := r.Connections(); n != 0 {
			t.Errorf("%d connections after the restart", n)
		}
		c = dialRaw(t, r)
		c.login("admin", "")
		if got := trapMessage(t, c.run("/ppp/secret/add", "=name=rebooted")); got != "failure: entry already exists" {
			t.Errorf("after restart: %q", got)
		}
	})
	t.Run("queue", func(t *testing.T) {
		c := dialRaw(t, r)
		c.login("admin", "")
		r.Inject("/ppp/profile/print", routertest.Fault{Trap: "first"})
		r.Inject("", routertest.Fault{Trap: "any"})
		r.Inject("/ppp/profile/print", routertest.Fault{Trap: "second"})
		var got []string
		for _, w := range []string{"/ppp/profile/print", "/system/identity/print", "/ppp/profile/print", "/ppp/profile/print"} {
			reply := c.run(w)
			if reply[0][0] == "!trap" {
				got = append(got, attrs(reply[0])["message"])
			} else {
				got = append(got, reply[len(reply)-1][0])
			}
		}
		if diff := cmp.Diff([]string{"first", "any", "second", "!done"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestRestartMidCommand reboots the router while a command waits: the
// connection drops without an answer, the tables stay, the address stays.
func TestRestartMidCommand(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	addr := r.Addr()
	r.Add("/ip/hotspot/user", map[string]string{"name": "kept"})
	c := dialRaw(t, r)
	c.login("admin", "")
	tagged := dialRaw(t, r)
	tagged.login("admin", "")
	r.Inject("/ip/hotspot/user/print", routertest.Fault{Delay: time.Hour})
	r.Inject("/ip/hotspot/user/print", routertest.Fault{Delay: time.Hour})
	c.send("/ip/hotspot/user/print")
	tagged.send("/ip/hotspot/user/print", ".tag=1")
	sdktest.WaitFor(t, 5*time.Second, "the commands to arrive", func() bool { return r.CountCommands("/ip/hotspot/user/print") == 2 })
	start := time.Now()
	r.Restart()
	c.expectEOF()
	tagged.expectEOF()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("restart took %v", d)
	}
	if n := r.Connections(); n != 0 {
		t.Errorf("%d connections right after Restart", n)
	}
	if r.Addr() != addr {
		t.Errorf("address changed: %s -> %s", addr, r.Addr())
	}
	c = dialRaw(t, r)
	c.login("admin", "")
	if _, ok := r.Find("/ip/hotspot/user", "kept"); !ok {
		t.Error("tables lost")
	}
	if r.Logins() != 3 {
		t.Errorf("Logins %d; want 3", r.Logins())
	}
}

func TestCloseDuringDelay(t *testing.T) {
	t.Parallel()
	r := routertest.New(routertest.Options{})
	if err := r.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, r)
	c.login("admin", "")
	r.Inject("", routertest.Fault{Delay: time.Hour})
	c.send("/system/identity/print")
	sdktest.WaitFor(t, 5*time.Second, "the command to arrive", func() bool { return r.CountCommands("/system/identity/print") == 1 })
	done := make(chan error)
	go func() { done <- r.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the delayed command")
	}
	c.expectEOF()
	if _, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		t.Error("dial after Close succeeded")
	}
}

func TestStopResume(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{})
	addr := r.Addr()
	c := dialRaw(t, r)
	c.login("admin", "")
	r.Stop()
	c.expectEOF()
	if n := r.Connections(); n != 0 {
		t.Errorf("%d connections after Stop", n)
	}
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = nc.Close()
		t.Fatal("dial while stopped succeeded")
	}
	r.Stop() // twice is fine
	r.Resume()
	r.Resume() // twice is fine
	if r.Addr() != addr {
		t.Errorf("address changed: %s -> %s", addr, r.Addr())
	}
	c = dialRaw(t, r)
	c.login("admin", "")
	if diff := cmp.Diff([]string{"!re", "!done"}, words(c.run("/system/identity/print"))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "router"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	r := routertest.Start(t, routertest.Options{TLS: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}})
	c := dialRawTLS(t, r, &tls.Config{RootCAs: pool})
	c.login("admin", "")
	if diff := cmp.Diff([]string{"!re", "!done"}, words(c.run("/system/identity/print"))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Plain API on the api-ssl port does not work.
	plain := dialRaw(t, r)
	plain.send("/login", "=name=admin", "=password=")
	if s, err := plain.readSentence(); err == nil {
		t.Errorf("plain client got %q from the TLS port", s)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	r := routertest.Start(t, routertest.Options{Latency: 50 * time.Millisecond})
	c := dialRaw(t, r)
	start := time.Now()
	c.login("admin", "")
	c.run("/system/identity/print")
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("two commands answered in %v; want at least 2 x 50ms", d)
	}
	// Restart during the latency drops the connection without an answer.
	c.send("/system/identity/print")
	sdktest.WaitFor(t, 5*time.Second, "the command to arrive", func() bool { return r.CountCommands("/system/identity/print") == 2 })
	r.Restart()
	c.expectEOF()
}
