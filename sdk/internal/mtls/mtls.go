// Package mtls makes the one-time certificates for mutual TLS between the host
// and a plugin.
//
// go-plugin's AutoMTLS makes a P-521 ECDSA key on each side for every launch,
// which costs a fresh plugin process tens of milliseconds. Here every key is
// P-256 (a fraction of a millisecond; Ed25519 costs a fresh process about a
// millisecond of self-tests on first use), and the host makes both of a
// launch's keys ahead of time, in its own warm process (NewLaunchPair):
//
//   - the host's certificate (never its key) goes to the plugin in
//     PLUGIN_CLIENT_CERT, as in go-plugin;
//   - the plugin's key and certificate go through a pipe the plugin
//     inherits as a file descriptor named by MIKROBILL_PLUGIN_TLS_FD: never
//     the environment, never a file;
//   - the plugin answers with its certificate in the sixth field of the
//     handshake line, as go-plugin's AutoMTLS does, and each side trusts
//     exactly the other's certificate.
//
// A plugin started by a host that passes no key makes its own (Prepare,
// ServerConfig). Keys live in memory and serve one launch only.
package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// ServerName is the name in every certificate; both sides verify it.
const ServerName = "localhost"

// curves are the key exchanges both sides offer.
var curves = []tls.CurveID{tls.X25519}

// NewCertificate makes a self-signed ECDSA P-256 certificate for one launch.
// It returns the certificate with its key and the certificate alone as PEM.
func NewCertificate() (tls.Certificate, []byte, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate key: %w", err)
	}
	pub := &priv.PublicKey
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: ServerName, Organization: []string{"mikrobill"}},
		DNSNames:              []string{ServerName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("parse certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// ServerConfig returns the plugin's TLS configuration: its own new
// certificate, and trust in the host's certificate only. It also returns the
// certificate in the form go-plugin's handshake line carries it.
func ServerConfig(hostCertPEM []byte) (*tls.Config, string, error) {
	cert, ok, err := takePrepared()
	if !ok {
		cert, _, err = NewCertificate()
	}
	if err != nil {
		return nil, "", err
	}
	return serverConfig(hostCertPEM, cert)
}

func serverConfig(hostCertPEM []byte, cert tls.Certificate) (*tls.Config, string, error) {
	trusted := x509.NewCertPool()
	if !trusted.AppendCertsFromPEM(hostCertPEM) {
		return nil, "", errors.New("the host's certificate in PLUGIN_CLIENT_CERT is not valid PEM; the host that started this plugin is broken or not mikrobill")
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    trusted,
		RootCAs:      trusted, // the plugin dials the host's broker services
		ServerName:   ServerName,
		MinVersion:   tls.VersionTLS13,
		// X25519 alone: both ends are ours, on one machine, for one
		// launch; the post-quantum hybrid Go prefers by default costs a
		// fresh plugin process noticeably more at every launch.
		CurvePreferences: curves,
	}
	return cfg, base64.RawStdEncoding.EncodeToString(cert.Certificate[0]), nil
}

// ClientConfig returns the host's TLS configuration for one launch and the
// certificate (PEM, no key) to hand the plugin in PLUGIN_CLIENT_CERT.
// go-plugin adds the plugin's certificate to RootCAs and ClientCAs when it
// reads the handshake line.
func ClientConfig() (*tls.Config, []byte, error) {
	cert, certPEM, err := NewCertificate()
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAndVerifyClientCert, // for the broker services the host serves
		ServerName:       ServerName,
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: curves,
	}
	return cfg, certPEM, nil
}

// PairForTest returns a matching server and client configuration made in one
// process, for serving a plugin inside a test.
func PairForTest() (server, client *tls.Config, err error) {
	client, hostPEM, err := ClientConfig()
	if err != nil {
		return nil, nil, err
	}
	server, _, err = ServerConfig(hostPEM)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(server.Certificates[0].Leaf)
	client.RootCAs = pool
	client.ClientCAs = pool
	return server, client, nil
}

// LaunchPair is everything one launch's mutual TLS needs, made by the host:
// its own configuration, its certificate for PLUGIN_CLIENT_CERT, and the
// plugin's key and certificate, which reach the plugin through an inherited
// pipe (never the environment, never a file).
type LaunchPair struct {
	// Host is the host's configuration; it already trusts the plugin's
	// certificate.
	Host *tls.Config
	// HostCertPEM is the host's certificate, without its key.
	HostCertPEM []byte
	// PluginBundle is the plugin's private key and certificate, PEM.
	PluginBundle []byte
}

// NewLaunchPair returns a launch's certificates. One pair is kept ready,
// made in the background after each launch takes one, so a launch does not
// wait for key generation; every pair serves one launch only.
func NewLaunchPair() (*LaunchPair, error) {
	pairs.mu.Lock()
	ready := pairs.next
	next := make(chan pairResult, 1)
	pairs.next = next
	pairs.mu.Unlock()
	go func() {
		p, err := makeLaunchPair()
		next <- pairResult{p, err}
	}()
	if ready == nil {
		return makeLaunchPair()
	}
	r := <-ready
	return r.pair, r.err
}

var pairs struct {
	mu   sync.Mutex
	next chan pairResult
}

type pairResult struct {
	pair *LaunchPair
	err  error
}

func makeLaunchPair() (*LaunchPair, error) {
	hostCert, hostPEM, err := NewCertificate()
	if err != nil {
		return nil, err
	}
	plugCert, plugPEM, err := NewCertificate()
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(plugCert.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("encode the plugin's key: %w", err)
	}
	bundle := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), plugPEM...)
	trusted := x509.NewCertPool()
	trusted.AddCert(plugCert.Leaf)
	return &LaunchPair{
		Host: &tls.Config{
			Certificates:     []tls.Certificate{hostCert},
			ClientAuth:       tls.RequireAndVerifyClientCert,
			RootCAs:          trusted,
			ClientCAs:        trusted,
			ServerName:       ServerName,
			MinVersion:       tls.VersionTLS13,
			CurvePreferences: curves,
		},
		HostCertPEM:  hostPEM,
		PluginBundle: bundle,
	}, nil
}

// ServerConfigFromBundle is ServerConfig with the key and certificate the
// host made (LaunchPair.PluginBundle) instead of new ones.
func ServerConfigFromBundle(hostCertPEM, bundle []byte) (*tls.Config, string, error) {
	cert, err := tls.X509KeyPair(bundle, bundle)
	if err != nil {
		return nil, "", fmt.Errorf("the key the host passed is not valid (%v); the host that started this plugin is broken or not mikrobill", err)
	}
	return serverConfig(hostCertPEM, cert)
}
