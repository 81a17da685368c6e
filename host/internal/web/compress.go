package web

import (
	"bufio"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// Compression settings.
const (
	// compressMin is the smallest body worth compressing; smaller ones
	// go out as they are.
	compressMin = 1024
	// brotliLevel trades ratio for speed on dynamic responses (brotli's
	// default, 6, costs about twice as much for a few percent).
	brotliLevel = 4
)

var (
	gzipPool   = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression); return w }}
	brotliPool = sync.Pool{New: func() any { return brotli.NewWriterLevel(io.Discard, brotliLevel) }}
)

// compress encodes responses with brotli or gzip, as the client's
// Accept-Encoding prefers (brotli on a tie). It leaves alone: HEAD, range
// and upgrade requests; bodies under compressMin; types that are not text
// (images, archives and the like are compressed already); responses that
// set their own Content-Encoding; and responses marked Cache-Control:
// no-store, which carry fresh secrets (tokens, sessions) that compression
// could leak through their length (BREACH). Every response says
// Vary: Accept-Encoding.
func (s *Server) compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := negotiateEncoding(r.Header.Get("Accept-Encoding"))
		if enc == "" || r.Method == http.MethodHead || r.Header.Get("Range") != "" || r.Header.Get("Upgrade") != "" {
			addVary(w.Header(), "Accept-Encoding")
			next.ServeHTTP(w, r)
			return
		}
		cw := &compressWriter{ResponseWriter: w, enc: enc}
		finished := false
		defer func() {
			if finished {
				cw.finish()
			} else {
				cw.abandon() // a panic: let the recoverer write the error
			}
		}()
		next.ServeHTTP(cw, r)
		finished = true
	})
}

// negotiateEncoding picks "br", "gzip" or "" from an Accept-Encoding
// header, honouring q-values and "*".
func negotiateEncoding(accept string) string {
	if accept == "" {
		return ""
	}
	q := map[string]float64{}
	for _, part := range strings.Split(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		weight := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					weight = f
				}
			}
		}
		if name == "x-gzip" {
			name = "gzip"
		}
		q[name] = weight
	}
	weight := func(name string) float64 {
		if w, ok := q[name]; ok {
			return w
		}
		return q["*"] // 0 when absent
	}
	br, gz := weight("br"), weight("gzip")
	switch {
	case br > 0 && br >= gz:
		return "br"
	case gz > 0:
		return "gzip"
	}
	return ""
}

// compressible reports whether a Content-Type is text worth compressing.
func compressible(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "image/svg+xml", mt == "application/javascript", mt == "application/x-javascript",
		mt == "application/xml", mt == "application/wasm", mt == "application/x-ndjson",
		mt == "application/openmetrics-text", mt == "application/manifest+json":
		return true
	case strings.HasPrefix(mt, "application/") && (mt == "application/json" || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")):
		return true
	}
	return false
}

// addVary adds a token to Vary unless it is there.
func addVary(h http.Header, token string) {
	for _, v := range h.Values("Vary") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t == "*" || strings.EqualFold(t, token) {
				return
			}
		}
	}
	h.Add("Vary", token)
}

// compressWriter holds back the start of a body until it knows whether to
// compress it: when compressMin bytes have been written, when the handler
// flushes, or when it returns.
type compressWriter struct {
	http.ResponseWriter
	enc     string
	status  int
	buf     []byte
	decided bool
	encoder interface {
		io.WriteCloser
		Flush() error
	}
}

func (w *compressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *compressWriter) WriteHeader(code int) {
	if w.decided {
		w.ResponseWriter.WriteHeader(code) // let net/http report the mistake
		return
	}
	if w.status != 0 {
		return // a second status before the body: the first one stands
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: more follows
		return
	}
	w.status = code
	if !bodyAllowed(code) {
		w.decide(false)
	}
}

func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

func (w *compressWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !w.decided {
		if len(w.buf)+len(p) < compressMin {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		w.buf = append(w.buf, p...)
		if err := w.decide(true); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if w.encoder != nil {
		return w.encoder.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// decide sends the header, compressing when the body is big enough (or
// streaming) and its type and the response allow it, then the held bytes.
func (w *compressWriter) decide(bigEnough bool) error {
	w.decided = true
	h := w.Header()
	if ct := h.Get("Content-Type"); ct == "" && len(w.buf) > 0 && h.Get("Content-Encoding") == "" {
		// What net/http would sniff from the first bytes, had we not held
		// them back.
		h.Set("Content-Type", http.DetectContentType(w.buf))
	}
	use := bigEnough && bodyAllowed(w.status) && w.status != http.StatusPartialContent &&
		h.Get("Content-Encoding") == "" && compressible(h.Get("Content-Type")) &&
		!strings.Contains(strings.ToLower(h.Get("Cache-Control")), "no-store")
	if h.Get("Content-Encoding") == "" {
		addVary(h, "Accept-Encoding")
	}
	if use {
		h.Del("Content-Length")
		h.Set("Content-Encoding", w.enc)
		// A strong ETag names these exact bytes; these are others.
		if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
			h.Set("ETag", "W/"+et)
		}
		if w.enc == "br" {
			bw := brotliPool.Get().(*brotli.Writer)
			bw.Reset(w.ResponseWriter)
			w.encoder = bw
		} else {
			gw := gzipPool.Get().(*gzip.Writer)
			gw.Reset(w.ResponseWriter)
			w.encoder = gw
		}
	}
	w.ResponseWriter.WriteHeader(w.status)
	buf := w.buf
	w.buf = nil
	if len(buf) == 0 {
		return nil
	}
	var err error
	if w.encoder != nil {
		_, err = w.encoder.Write(buf)
	} else {
		_, err = w.ResponseWriter.Write(buf)
	}
	return err
}

// Flush sends what has been written so far (compressed if it qualifies,
// whatever its size: a streaming response cannot wait for more).
func (w *compressWriter) Flush() {
	if !w.decided {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		if err := w.decide(len(w.buf) > 0); err != nil {
			return
		}
	}
	if w.encoder != nil {
		if err := w.encoder.Flush(); err != nil {
			return
		}
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands over the connection (an upgrade that slipped through).
func (w *compressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.decided {
		return nil, nil, errors.New("the response has started")
	}
	w.decided = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// finish completes the response after the handler returned.
func (w *compressWriter) finish() {
	if !w.decided {
		if w.status == 0 && len(w.buf) == 0 {
			// The handler wrote nothing at all: net/http sends its 200.
			w.decided = true
			addVary(w.Header(), "Accept-Encoding")
			return
		}
		if w.status == 0 {
			w.status = http.StatusOK
		}
		_ = w.decide(false)
	}
	w.release(true)
}

// abandon drops what was held after a panic.
func (w *compressWriter) abandon() {
	w.buf = nil
	w.decided = true
	w.release(false)
}

func (w *compressWriter) release(closeEncoder bool) {
	if w.encoder == nil {
		return
	}
	if closeEncoder {
		_ = w.encoder.Close()
	}
	switch e := w.encoder.(type) {
	case *brotli.Writer:
		e.Reset(io.Discard)
		brotliPool.Put(e)
	case *gzip.Writer:
		e.Reset(io.Discard)
		gzipPool.Put(e)
	}
	w.encoder = nil
}
