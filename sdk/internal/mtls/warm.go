package mtls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"sync"
)

// A launch is on the critical path of every plugin start and restart, and a
// fresh plugin process pays for its crypto twice: the key and certificate,
// and the first use of each primitive of the handshake (Go's cryptographic
// module tests each algorithm on first use). Prepare starts both in the
// background as early as possible, so they overlap with the rest of the
// start-up; ServerConfig then waits only for what is not done yet.

type prepared struct {
	once sync.Once
	done chan struct{}
	cert tls.Certificate
	err  error
}

var early prepared

// Prepare starts making the certificate of this launch and warming the
// handshake's primitives in the background. It is safe to call more than
// once; only the first call does anything.
func Prepare() {
	early.once.Do(func() {
		early.done = make(chan struct{})
		go func() {
			early.cert, _, early.err = NewCertificate()
			close(early.done)
			warmHandshake()
		}()
	})
}

// takePrepared returns the prepared certificate (once), or ok=false when
// Prepare was not called or the certificate was taken already.
var takeMu sync.Mutex
var taken bool

func takePrepared() (tls.Certificate, bool, error) {
	takeMu.Lock()
	defer takeMu.Unlock()
	if early.done == nil || taken {
		return tls.Certificate{}, false, nil
	}
	<-early.done
	taken = true
	return early.cert, true, early.err
}

// warmHandshake uses once each primitive a TLS 1.3 handshake with X25519,
// ECDSA P-256 and AES-GCM uses.
func warmHandshake() {
	k1, err1 := ecdh.X25519().GenerateKey(rand.Reader)
	k2, err2 := ecdh.X25519().GenerateKey(rand.Reader)
	if err1 == nil && err2 == nil {
		_, _ = k1.ECDH(k2.PublicKey())
	}
	if priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
		digest := sha256.Sum256([]byte("warm"))
		if sig, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); err == nil {
			ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig)
		}
	}
	key, _ := hkdf.Key(sha256.New, []byte("secret"), nil, "warm", 16)
	if block, err := aes.NewCipher(key); err == nil {
		if gcm, err := cipher.NewGCM(block); err == nil {
			nonce := make([]byte, gcm.NonceSize())
			gcm.Seal(nil, nonce, []byte("warm"), nil)
		}
	}
}

// hostPool keeps one fresh host certificate ready, made in the background
// after each launch takes one; every certificate serves one launch only.
type hostPool struct {
	mu   sync.Mutex
	next chan certResult
}

type certResult struct {
	cert tls.Certificate
	pem  []byte
	err  error
}

var pool hostPool

// take returns a fresh certificate, from the pool when one is ready, and
// starts making the next.
func (p *hostPool) take() (tls.Certificate, []byte, error) {
	p.mu.Lock()
	ch := p.next
	next := make(chan certResult, 1)
	p.next = next
	p.mu.Unlock()
	go func() {
		cert, pem, err := NewCertificate()
		next <- certResult{cert, pem, err}
	}()
	if ch == nil {
		cert, pem, err := NewCertificate()
		return cert, pem, err
	}
	r := <-ch
	return r.cert, r.pem, r.err
}
