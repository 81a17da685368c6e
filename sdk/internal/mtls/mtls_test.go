package mtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// result is one side of a TLS connection after the handshake and one
// message.
type result struct {
	handshakeErr error
	// readErr is the error reading the other side's message; got is the
	// message.
	readErr error
	got     string
	state   tls.ConnectionState
}

// exchange runs a TLS server with serverCfg and a client with clientCfg over
// a loopback TCP connection. Each side completes the handshake, writes its
// role and reads the other's, so a refusal that TLS 1.3 reports only after
// the client's handshake returns still shows up on the client side.
func exchange(t *testing.T, serverCfg, clientCfg *tls.Config) (server, client result) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer lis.Close()

	run := func(c *tls.Conn, role string) result {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var r result
		if r.handshakeErr = c.Handshake(); r.handshakeErr != nil {
			return r
		}
		r.state = c.ConnectionState()
		if _, err := c.Write([]byte(role)); err != nil {
			r.readErr = err
			return r
		}
		buf := make([]byte, 6)
		n, err := io.ReadFull(c, buf)
		r.got, r.readErr = string(buf[:n]), err
		return r
	}

	done := make(chan result, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			done <- result{handshakeErr: err}
			return
		}
		done <- run(tls.Server(conn, serverCfg), "server")
	}()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	client = run(tls.Client(conn, clientCfg), "client")
	server = <-done
	return server, client
}

func TestPairForTestHandshake(t *testing.T) {
	pluginCfg, hostCfg, err := PairForTest()
	if err != nil {
		t.Fatalf("PairForTest: %v", err)
	}
	pluginCert := pluginCfg.Certificates[0].Leaf
	hostCert := hostCfg.Certificates[0].Leaf
	if pluginCert.Equal(hostCert) {
		t.Fatal("the plugin and the host share a certificate")
	}

	tests := []struct {
		name string
		// serverCfg serves, clientCfg dials.
		serverCfg, clientCfg *tls.Config
		// serverCert and clientCert are what each side should see of the
		// other.
		serverCert, clientCert *x509.Certificate
	}{
		// The host dials the plugin's gRPC server.
		{name: "host dials plugin", serverCfg: pluginCfg, clientCfg: hostCfg, serverCert: pluginCert, clientCert: hostCert},
		// The plugin dials the host's broker services (the host service).
		{name: "plugin dials host", serverCfg: hostCfg, clientCfg: pluginCfg, serverCert: hostCert, clientCert: pluginCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := exchange(t, tt.serverCfg, tt.clientCfg)
			for _, side := range []struct {
				name     string
				r        result
				wantGot  string
				wantPeer *x509.Certificate
			}{
				{"server", server, "client", tt.clientCert},
				{"client", client, "server", tt.serverCert},
			} {
				if side.r.handshakeErr != nil {
					t.Fatalf("%s handshake: %v", side.name, side.r.handshakeErr)
				}
				if side.r.readErr != nil || side.r.got != side.wantGot {
					t.Errorf("%s read %q, %v; want %q", side.name, side.r.got, side.r.readErr, side.wantGot)
				}
				if side.r.state.Version != tls.VersionTLS13 {
					t.Errorf("%s negotiated %s, want TLS 1.3", side.name, tls.VersionName(side.r.state.Version))
				}
				if peers := side.r.state.PeerCertificates; len(peers) != 1 || !peers[0].Equal(side.wantPeer) {
					t.Errorf("%s saw %d peer certificates, want exactly the other side's", side.name, len(peers))
				}
			}
		})
	}
}

func TestServerRefusesOtherClient(t *testing.T) {
	pluginCfg, _, err := PairForTest()
	if err != nil {
		t.Fatalf("PairForTest: %v", err)
	}
	// A second host (or anyone else) with a fresh certificate, which even
	// trusts the plugin's certificate.
	stranger, _, err := ClientConfig()
	if err != nil {
		t.Fatalf("ClientConfig: %v", err)
	}
	stranger.RootCAs = x509.NewCertPool()
	stranger.RootCAs.AddCert(pluginCfg.Certificates[0].Leaf)

	server, client := exchange(t, pluginCfg, stranger)
	if server.handshakeErr == nil {
		t.Fatal("the plugin accepted a client whose certificate it was not given")
	}
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(server.handshakeErr, &unknownAuthority) {
		t.Errorf("server handshake error = %v, want x509.UnknownAuthorityError", server.handshakeErr)
	}
	if client.handshakeErr == nil && client.readErr == nil {
		t.Errorf("the refused client read %q without an error", client.got)
	}
}

func TestClientRefusesOtherServer(t *testing.T) {
	_, hostCfg, err := PairForTest()
	if err != nil {
		t.Fatalf("PairForTest: %v", err)
	}
	// A server that trusts the host but is not the plugin the host was
	// told about.
	_, hostPEM, err := ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	impostor, _, err := ServerConfig(hostPEM)
	if err != nil {
		t.Fatal(err)
	}
	impostor.ClientAuth = tls.NoClientCert

	_, client := exchange(t, impostor, hostCfg)
	var unknownAuthority x509.UnknownAuthorityError
	if !errors.As(client.handshakeErr, &unknownAuthority) {
		t.Errorf("client handshake error = %v, want x509.UnknownAuthorityError", client.handshakeErr)
	}
}

func TestServerConfig(t *testing.T) {
	_, hostPEM, err := ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg, certLine, err := ServerConfig(hostPEM)
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	type summary struct {
		MinVersion   uint16
		ClientAuth   tls.ClientAuthType
		ServerName   string
		Certificates int
	}
	want := summary{MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAndVerifyClientCert, ServerName: "localhost", Certificates: 1}
	got := summary{cfg.MinVersion, cfg.ClientAuth, cfg.ServerName, len(cfg.Certificates)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	// go-plugin reads the handshake line's certificate as unpadded base64
	// of the DER.
	der, err := base64.RawStdEncoding.DecodeString(certLine)
	if err != nil {
		t.Fatalf("the certificate in the handshake line is not raw base64: %v", err)
	}
	if !bytes.Equal(der, cfg.Certificates[0].Certificate[0]) {
		t.Error("the certificate in the handshake line is not the one the plugin serves with")
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := leaf.VerifyHostname(ServerName); err != nil {
		t.Errorf("certificate does not name %s: %v", ServerName, err)
	}
}

func TestServerConfigRejectsGarbage(t *testing.T) {
	const want = "the host's certificate in PLUGIN_CLIENT_CERT is not valid PEM; the host that started this plugin is broken or not mikrobill"
	tests := []struct {
		name string
		pem  string
	}{
		{name: "empty", pem: ""},
		{name: "garbage", pem: "not a certificate"},
		{name: "base64 DER without PEM armour", pem: "MIIBszCCAWWgAwIBAgIQ"},
		{name: "PEM with garbage inside", pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		{name: "private key", pem: "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIK1p\n-----END PRIVATE KEY-----\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, line, err := ServerConfig([]byte(tt.pem))
			if err == nil {
				t.Fatalf("ServerConfig(%q) = %v, %q, nil; want an error", tt.pem, cfg, line)
			}
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			if cfg != nil || line != "" {
				t.Errorf("ServerConfig returned a config or certificate with its error")
			}
		})
	}
}

func TestNewCertificate(t *testing.T) {
	a, aPEM, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
	if !strings.HasPrefix(string(aPEM), "-----BEGIN CERTIFICATE-----\n") {
		t.Errorf("PEM starts %q, want a CERTIFICATE block", string(aPEM[:min(len(aPEM), 30)]))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(aPEM) {
		t.Error("the PEM does not parse")
	}
	if now := time.Now(); now.Before(a.Leaf.NotBefore) || now.After(a.Leaf.NotAfter) {
		t.Errorf("certificate is valid %v to %v, not now", a.Leaf.NotBefore, a.Leaf.NotAfter)
	}
}

func TestLaunchPairHandshake(t *testing.T) {
	pair, err := NewLaunchPair()
	if err != nil {
		t.Fatal(err)
	}
	server, certLine, err := ServerConfigFromBundle(pair.HostCertPEM, pair.PluginBundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(certLine) < 50 {
		t.Errorf("handshake-line certificate %q is too short for go-plugin to load", certLine)
	}
	if bytes.Contains(pair.HostCertPEM, []byte("PRIVATE KEY")) {
		t.Error("the host's certificate for the environment contains a private key")
	}
	a, b := net.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- tls.Server(a, server).Handshake() }()
	if err := tls.Client(b, pair.Host).Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}

	// Another launch's pair does not fit this one.
	other, err := NewLaunchPair()
	if err != nil {
		t.Fatal(err)
	}
	a, b = net.Pipe()
	go func() { errc <- tls.Server(a, server).Handshake(); a.Close() }()
	if err := tls.Client(b, other.Host).Handshake(); err == nil {
		t.Error("a host with another launch's certificate completed the handshake")
	}
	<-errc

	if _, _, err := ServerConfigFromBundle(pair.HostCertPEM, []byte("junk")); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("ServerConfigFromBundle(junk) = %v", err)
	}
}
