package web

// The customer portal's routes (/portal; pages in package ui, portal.go):
// portalPage installs each with the admin pages' CSRF check, but with the
// portal's own session cookie (ui.PortalCookie, Path /portal, its sessions
// in their own table) instead of the admin UI's: an admin's session opens
// no portal page and a customer's opens no admin page. Sign-in attempts
// are limited per client and per username or phone through the host's
// rate limiter, which Redis shares between hosts.

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// roleCustomer is the role recorded for the portal's pages that need a
// customer signed in to the portal; no admin role has it.
const roleCustomer = "customer"

// The portal's sign-in limits: per client address, and per username or
// phone number whatever the address (codes are 6 digits, so the second
// also bounds guessing one phone's code from many addresses).
const (
	PortalClientLimit  = 20
	PortalSubjectLimit = 8
	PortalLimitWindow  = 15 * time.Minute
)

// portalPage installs a portal page at method and path on r: for anyone
// (rolePublic) or for a signed-in customer (roleCustomer).
func (s *Server) portalPage(r *mux.Router, method, path, role string, h func(http.ResponseWriter, *http.Request) error) {
	rt := r.Handle(path, s.sec.csrf.Handler(s.portalHandler(role, h))).Methods(method)
	key := routeTemplate(rt, path)
	s.policy.set(method, key, role)
	s.policy.setPage(method, key)
}

// portalHandler finds the customer of the portal cookie, if any, sends
// anonymous callers of a customer's page to the portal's sign-in page, and
// answers failures with the portal's error page.
func (s *Server) portalHandler(role string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(ui.PortalCookie); err == nil && c.Value != "" {
			cust, err := s.deps.Billing.PortalSession(r.Context(), c.Value)
			if err != nil {
				s.portalFail(w, r, err)
				return
			}
			if cust != nil {
				r = r.WithContext(s.ui.WithCustomer(r.Context(), cust))
			}
		}
		if role == roleCustomer && !s.ui.HasCustomer(r) {
			http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
			return
		}
		if err := h(w, r); err != nil {
			s.portalFail(w, r, err)
		}
	})
}

// portalFail logs a portal page's error as serveError does and answers
// with the portal's error page.
func (s *Server) portalFail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = classify(err)
	}
	if ae.status >= 500 {
		s.log.Error("portal page failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	s.ui.PortalFail(w, r, ae.status, r.Header.Get("X-Request-ID"))
}

// allowPortal counts a portal sign-in attempt against the client and the
// subject (a username or phone) and reports whether both are within
// their limits.
func (s *Server) allowPortal(w http.ResponseWriter, r *http.Request, subject string) (bool, error) {
	client := s.sec.clientKey(r)
	for _, l := range []struct {
		key   string
		limit int
	}{{"portal:client:" + client, PortalClientLimit}, {"portal:" + subject, PortalSubjectLimit}} {
		err := s.limit(w, r, l.key, l.limit, PortalLimitWindow)
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusTooManyRequests {
			s.log.Warn("portal sign-in rate limited", "remote", client)
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}
