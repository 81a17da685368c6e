package web

import (
	"mime"
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzhttp"
)

// compressMin is the smallest body worth compressing; smaller ones go out
// as they are.
const compressMin = 1024

// etagSuffix marks the ETag of a compressed body ("abc" becomes "abc-gzip"
// or "abc-zstd"): a strong ETag names exact bytes, and these are others.
const etagSuffix = "-gzip"

// compressor is github.com/klauspost/compress's gzhttp, set up once: zstd
// or gzip as the client's Accept-Encoding prefers (zstd on a tie, "*" as
// either), bodies from compressMin bytes whose type is compressible. It leaves alone HEAD
// requests, partial content, responses that set their own Content-Encoding,
// and those marked gzhttp.HeaderNoCompression; it adds Vary:
// Accept-Encoding, and a Flush sends what was written so far (compressed)
// without waiting for compressMin bytes.
var compressor = func() func(http.Handler) http.HandlerFunc {
	wrap, err := gzhttp.NewWrapper(
		gzhttp.MinSize(compressMin),
		gzhttp.ContentTypeFilter(compressible),
		gzhttp.SuffixETag(etagSuffix),
		gzhttp.AcceptWildcards(true),
	)
	if err != nil {
		panic("web: gzhttp options: " + err.Error()) // constant options: a bug here
	}
	return wrap
}()

// compress encodes responses with zstd or gzip (compressor). Besides what
// gzhttp leaves alone, it does not compress responses marked
// Cache-Control: no-store, which carry fresh secrets (tokens, sessions)
// that compression could leak through their length (BREACH). Conditional
// requests naming a compressed body's ETag reach the handler with the ETag
// it set, so revalidation (304) works for compressed bodies too. When the
// handler panics, what gzhttp still holds back is dropped, so the
// recoverer's error page is the whole answer.
func (s *Server) compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, name := range []string{"If-None-Match", "If-Match"} {
			if v := r.Header.Get(name); strings.Contains(v, etagSuffix+`"`) || strings.Contains(v, `-zstd"`) {
				r.Header.Set(name, strings.NewReplacer(etagSuffix+`"`, `"`, `-zstd"`, `"`).Replace(v))
			}
		}
		out := &compressOut{ResponseWriter: w}
		compressor(http.HandlerFunc(func(cw http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					out.abandoned = true
					panic(v)
				}
			}()
			next.ServeHTTP(&noStoreWriter{ResponseWriter: cw}, r)
		}))(out, r)
	})
}

// compressOut is what gzhttp writes to: after a panic it drops what gzhttp
// sends when it closes (the start of a body held back below compressMin).
type compressOut struct {
	http.ResponseWriter
	abandoned bool
}

func (w *compressOut) WriteHeader(code int) {
	if !w.abandoned {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *compressOut) Write(p []byte) (int, error) {
	if w.abandoned {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *compressOut) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noStoreWriter marks a response whose Cache-Control says no-store for
// gzhttp to leave uncompressed, when the handler starts its body.
type noStoreWriter struct {
	http.ResponseWriter
}

func (w *noStoreWriter) mark() {
	h := w.Header()
	if strings.Contains(strings.ToLower(h.Get("Cache-Control")), "no-store") {
		h.Set(gzhttp.HeaderNoCompression, "1")
	}
}

func (w *noStoreWriter) WriteHeader(code int) { w.mark(); w.ResponseWriter.WriteHeader(code) }

func (w *noStoreWriter) Write(p []byte) (int, error) { w.mark(); return w.ResponseWriter.Write(p) }

// FlushError lets http.ResponseController flush through this writer.
func (w *noStoreWriter) FlushError() error {
	w.mark()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher for handlers that assert it.
func (w *noStoreWriter) Flush() { _ = w.FlushError() }

func (w *noStoreWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// compressible reports whether a Content-Type is text worth compressing.
// Images, archives and the like are compressed already.
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
