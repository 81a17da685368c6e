package web

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// security holds what the request guards need, settled once in New: who
// the trusted proxies are, which origins may call the API from a browser,
// the rate limits and the request timeout.
//
// The guards, outermost first (routes.go):
//
//	securityHeaders  every response: nosniff, frame denial, CSP, referrer and
//	                 permissions policies; HSTS when the request came over HTTPS
//	requestTimeout   every request: a context deadline of REQUEST_TIMEOUT
//	compress         every response: zstd or gzip by Accept-Encoding (gzhttp)
//	apiGuard         /api/v1: CORS (and preflights), then RATE_LIMIT_MAX per
//	                 window per client address
//	csrf             /api/v1 (inside the router): cookie-authenticated unsafe
//	                 requests from other origins are refused
//	authenticate     /api/v1 (inside the router): the principal
//
// The login route adds a stricter limit per client address and username.
type security struct {
	proxies []netip.Prefix
	// origins may call the API with credentials (cookies); anyOrigin lets
	// every other origin call it without.
	origins   map[string]bool
	anyOrigin bool
	csrf      *http.CrossOriginProtection
	apiMax    int
	apiWindow time.Duration
	timeout   time.Duration
}

// Login limits: attempts per client address and username, successful or
// not, on top of the API's limit per address.
const (
	LoginLimit  = 10
	LoginWindow = 15 * time.Minute
)

// initSecurity settles the guards' settings from the dependencies and
// wires Accounts into Auth. New calls it.
func (s *Server) initSecurity() {
	g := &security{origins: map[string]bool{}, csrf: http.NewCrossOriginProtection()}
	if c := s.deps.Config; c != nil {
		g.apiMax, g.apiWindow = c.Security.RateLimitMax, c.Security.RateLimitWindow
		g.timeout = c.Server.RequestTimeout
		for _, p := range c.Security.TrustedProxies {
			if pfx, err := netip.ParsePrefix(p); err == nil {
				g.proxies = append(g.proxies, pfx.Masked())
			} else if a, err := netip.ParseAddr(p); err == nil {
				a = a.Unmap()
				g.proxies = append(g.proxies, netip.PrefixFrom(a, a.BitLen()))
			} else {
				s.log.Warn("ignoring a trusted proxy that is not an address or CIDR range", "proxy", p)
			}
		}
		for _, o := range c.Security.CORSOrigins {
			if o == "*" {
				g.anyOrigin = true
				continue
			}
			norm := normalizeOrigin(o)
			if err := g.csrf.AddTrustedOrigin(norm); err != nil {
				s.log.Warn("ignoring a CORS origin", "origin", o, "error", err)
				continue
			}
			g.origins[norm] = true
		}
	}
	g.csrf.SetDenyHandler(s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{http.StatusForbidden, "cross_origin_refused",
			"cross-origin request refused: a browser sent it from a page on another site, where it could ride on a session cookie; call the API from the admin UI's own origin, add the calling origin to security.cors_origins (MIKROBILL_CORS_ORIGINS), or authenticate with a bearer token", nil}
	}))
	s.sec = g

	if s.deps.Auth == nil && s.deps.Accounts != nil {
		s.deps.Auth = accountsAuthenticator{s}
	}
	if s.deps.Auth != nil {
		s.deps.Auth = publicRoutesTolerate{s: s, next: s.deps.Auth}
	}
}

// normalizeOrigin writes an origin as browsers send it: lowercase scheme
// and host, no trailing slash.
func normalizeOrigin(o string) string {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return o
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// trusted reports whether a peer is one of the trusted proxies.
func (g *security) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(r.RemoteAddr)
	return a.Unmap()
}

// clientIP is the client's address: the peer's, or, when the peer is a
// trusted proxy, the rightmost X-Forwarded-For entry that is not a trusted
// proxy (entries to its left are whatever the client claimed). It is the
// invalid Addr when the peer's address is not an IP (a Unix socket).
func (g *security) clientIP(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !peer.IsValid() || !g.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			ap, perr := netip.ParseAddrPort(hop)
			if perr != nil {
				break
			}
			a = ap.Addr()
		}
		client = a.Unmap()
		if !g.trusted(client) {
			break
		}
	}
	return client
}

// isHTTPS reports whether the client's request came over HTTPS: TLS here,
// or a trusted proxy's X-Forwarded-Proto saying so.
func (g *security) isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if peer := peerAddr(r); !peer.IsValid() || !g.trusted(peer) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// clientKey names a client for rate limits: its IPv4 address, or its
// IPv6 /64 (one subscriber's network; they hold billions of addresses).
func (g *security) clientKey(r *http.Request) string {
	a := g.clientIP(r)
	switch {
	case !a.IsValid():
		return "local"
	case a.Is4():
		return a.String()
	default:
		p, _ := a.Prefix(64)
		return p.String()
	}
}

// securityHeaders sets the headers every response carries.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		h.Set("Permissions-Policy", "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.sec.isHTTPS(r) {
			// No includeSubDomains: other hosts of the operator's domain
			// may not speak HTTPS.
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// requestTimeout gives every request a context deadline of the configured
// REQUEST_TIMEOUT, so database queries and plugin calls give up in time
// (context.DeadlineExceeded is a 504).
func (s *Server) requestTimeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.sec.timeout <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.sec.timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isAPI reports whether a path is under /api/v1.
func isAPI(path string) bool { return path == "/api/v1" || strings.HasPrefix(path, "/api/v1/") }

// machineRateFactor is how many times RATE_LIMIT_MAX the routes called by
// machines get: gateways' webhooks (a busy gateway sends many from few
// addresses, and a refused one is resent later) and health checks and
// scrapes.
const machineRateFactor = 10

// rateBucket is the rate-limit bucket and budget (per window, per client
// address) of a path: every route has one.
func (s *Server) rateBucket(path string) (string, int) {
	switch {
	case isAPI(path):
		return "api", s.sec.apiMax
	case strings.HasPrefix(path, "/webhooks/"):
		return "webhooks", s.sec.apiMax * machineRateFactor
	case path == "/live" || path == "/ready" || path == "/metrics" || path == "/health" || strings.HasPrefix(path, "/health/"):
		return "ops", s.sec.apiMax * machineRateFactor
	default: // /pay, /plugins, and what is not found
		return "web", s.sec.apiMax
	}
}

// apiGuard applies the rate limit of the path's bucket per client address
// on every route, and answers CORS for /api/v1 (preflights included).
func (s *Server) apiGuard(next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if isAPI(r.URL.Path) {
			if done, err := s.cors(w, r); done || err != nil {
				return err
			}
		}
		bucket, max := s.rateBucket(r.URL.Path)
		if err := s.limit(w, r, bucket+":"+s.sec.clientKey(r), max, s.sec.apiWindow); err != nil {
			return err
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// Allowed cross-origin methods and request headers.
const (
	corsMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, X-Request-ID"
	corsExpose  = "X-Request-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
)

// cors sets the CORS headers for an allowed origin and answers preflights
// (done). An explicitly configured origin may send cookies
// (Access-Control-Allow-Credentials); "*" lets any other origin call
// without them (never a wildcard with credentials).
func (s *Server) cors(w http.ResponseWriter, r *http.Request) (done bool, err error) {
	g := s.sec
	if len(g.origins) == 0 && !g.anyOrigin {
		return false, nil
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false, nil
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	withCredentials := g.origins[normalizeOrigin(origin)]
	if !withCredentials && !g.anyOrigin {
		if preflight {
			return true, &apiError{http.StatusForbidden, "origin_not_allowed",
				"the origin " + origin + " may not call this API; add it to security.cors_origins (MIKROBILL_CORS_ORIGINS)", nil}
		}
		// A simple request: the browser keeps the answer from the page,
		// and csrf refuses unsafe methods sent with cookies.
		return false, nil
	}
	if withCredentials {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExpose)
		return false, nil
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true, nil
}

// csrf refuses unsafe requests (POST, PUT, PATCH, DELETE) that a browser
// sends from another origin (Sec-Fetch-Site, or Origin against Host), the
// way a forged form or fetch rides on the session cookie, unless the
// origin is a configured CORS origin. Requests with an Authorization header
// pass: authentication then uses that header alone, never the cookie, and
// a browser never adds one on its own.
func (s *Server) csrf(next http.Handler) http.Handler {
	protected := s.sec.csrf.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			next.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}
