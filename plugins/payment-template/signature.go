package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// REPLACE: your gateway's signature scheme. Example Pay signs every
// notification like this (README.md, "Webhooks"):
//
//	Example-Signature: t=1764103200,v1=<hex HMAC-SHA256>
//
// where the HMAC is keyed with the webhook secret and taken over the
// timestamp, a dot and the raw body: "1764103200.{...}". While a secret is
// being rotated the header carries one v1 per secret; any one that matches
// is enough. Whatever your gateway does, keep the three rules below: verify
// over the raw bytes exactly as received (never re-encoded JSON), compare in
// constant time (hmac.Equal), and do both before parsing anything.
const (
	// SignatureHeader carries the signature.
	SignatureHeader = "Example-Signature"
	// SignatureTolerance is how far the signed timestamp may be from now.
	// It bounds how long a captured notification could be replayed; the
	// replay guard in HandleWebhook covers the window.
	SignatureTolerance = 5 * time.Minute
)

// Why a signature is refused. The messages say what is wrong, never what
// was expected.
var (
	errNoSignature   = errors.New("the " + SignatureHeader + " header is missing")
	errBadHeader     = errors.New("the " + SignatureHeader + " header is not \"t=<unix seconds>,v1=<hex>\"")
	errNoMatch       = errors.New("no v1 signature matches the body; check webhook_secret against the one in Example Pay's dashboard")
	errStaleSignTime = errors.New("the signed timestamp is more than " + SignatureTolerance.String() + " from now (a replay, or a clock that is off)")
)

// Sign returns the Example-Signature header value for body, signed at t with
// secret: what Example Pay sends. The tests use it to build notifications.
func Sign(body []byte, secret string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// verifySignature checks the signature header of a notification over its
// raw body.
func verifySignature(h http.Header, body []byte, secret string, now time.Time) error {
	header := h.Get(SignatureHeader)
	if header == "" {
		return errNoSignature
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return errBadHeader
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return errBadHeader
			}
			sigs = append(sigs, sig)
		}
		// Other schemes (v0, v2, ...) are skipped: a gateway may add one.
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errBadHeader
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		// hmac.Equal takes the same time wherever the bytes differ.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return errNoMatch
	}
	if d := now.Sub(time.Unix(unix, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return fmt.Errorf("%w (off by %s)", errStaleSignTime, d.Round(time.Second))
	}
	return nil
}
