// Package mtls makes the one-time certificates for mutual TLS between the host
// and a plugin.
//
// go-plugin's AutoMTLS makes a P-521 ECDSA key on each side for every launch,
// which costs tens of milliseconds. P-256 keys cost a fraction of a
// millisecond and are as good for this purpose; they also beat Ed25519 here,
// whose first use costs a fresh plugin process about a millisecond of
// self-tests. The protocol is go-plugin's own: the host sends its
// certificate (never its key) in PLUGIN_CLIENT_CERT, the plugin answers with
// its certificate in the sixth field of the handshake line, and each side
// trusts exactly the other's certificate. Keys live in memory for one launch.
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
	trusted := x509.NewCertPool()
	if !trusted.AppendCertsFromPEM(hostCertPEM) {
		return nil, "", errors.New("the host's certificate in PLUGIN_CLIENT_CERT is not valid PEM; the host that started this plugin is broken or not mikrobill")
	}
	cert, ok, err := takePrepared()
	if !ok {
		cert, _, err = NewCertificate()
	}
	if err != nil {
		return nil, "", err
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
	cert, certPEM, err := pool.take()
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
