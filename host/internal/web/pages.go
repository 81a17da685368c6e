package web

// The admin UI's pages (package ui) in the route table: page installs one
// the way route installs an API route, with its role, and wraps it in the
// same guards: the CSRF check of unsafe requests, authentication through
// Deps.Auth, the role check. What differs is the answer: an anonymous
// caller is sent to the sign-in page, a refused one and a failed handler
// get an HTML error page instead of the API's JSON.

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// newUI builds the pages over the services the API uses.
func (s *Server) newUI() (*ui.UI, error) {
	var bp ui.Billing
	if s.deps.DB != nil && s.deps.Billing != nil {
		bp = billingPages{s}
	}
	return ui.New(ui.Deps{
		Billing:  bp,
		Accounts: s.deps.Accounts, Plugins: s.deps.Plugins, Logger: s.log,
		Secure:      s.sec.isHTTPS,
		ClientKey:   s.sec.clientKey,
		RoleAtLeast: RoleAtLeast,
		AllowSignIn: func(w http.ResponseWriter, r *http.Request, username string) (bool, error) {
			err := s.limit(w, r, "login:"+s.sec.clientKey(r)+":"+username, LoginLimit, LoginWindow)
			var ae *apiError
			if errors.As(err, &ae) && ae.status == http.StatusTooManyRequests {
				s.log.Warn("sign-in rate limited", "user", username, "remote", s.sec.clientKey(r))
				return false, nil
			}
			return err == nil, err
		},
	})
}

// page installs a UI page at method and path on r for callers with at
// least role (rolePublic: anyone), and records the role for Policies.
func (s *Server) page(r *mux.Router, method, path, role string, h func(http.ResponseWriter, *http.Request) error) {
	rt := r.Handle(path, s.sec.csrf.Handler(s.pageHandler(role, h))).Methods(method)
	key := routeTemplate(rt, path)
	s.policy.set(method, key, role)
	s.policy.setPage(method, key)
}

// pageHandler authenticates the caller, checks the role and runs h, with
// the UI's answers for each refusal and error.
func (s *Server) pageHandler(role string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *Principal
		if s.deps.Auth != nil {
			var err error
			p, err = s.deps.Auth.Authenticate(r)
			var ae *apiError
			if errors.As(err, &ae) {
				s.failPage(w, r, err) // the database, not the credentials
				return
			}
			// Refused credentials (an expired or ended session) leave the
			// caller anonymous: the sign-in page replaces the cookie.
		}
		if p != nil {
			// The principal too: the services the pages call name the
			// actor of their audit records from it.
			r = r.WithContext(s.ui.WithUser(WithPrincipal(r.Context(), p), p.UserID, p.Username, p.Role))
		}
		switch {
		case role == rolePublic:
		case p == nil:
			signIn := "/signin?next=" + url.QueryEscape(r.URL.RequestURI())
			if r.Method != http.MethodGet {
				signIn = "/signin"
			}
			if r.Header.Get("HX-Request") == "true" {
				// htmx follows HX-Redirect with a full page load.
				w.Header().Set("HX-Redirect", signIn)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, signIn, http.StatusSeeOther)
			return
		case !RoleAtLeast(p.Role, role):
			s.ui.Fail(w, r, http.StatusForbidden, r.Header.Get("X-Request-ID"))
			return
		}
		if err := h(w, r); err != nil {
			s.failPage(w, r, err)
		}
	})
}

// failPage logs a page's error as serveError does and answers with the
// UI's error page for its status.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = classify(err)
	}
	if ae.status >= 500 {
		s.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	s.ui.Fail(w, r, ae.status, r.Header.Get("X-Request-ID"))
}
