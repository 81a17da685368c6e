package web

// The admin UI's pages (package ui) in the route table: page installs one
// the way route installs an API route, with its role, and wraps it in the
// same guards: the CSRF check of unsafe requests, authentication through
// Deps.Auth, the role check. What differs is the answer: an anonymous
// caller is sent to the sign-in page, a refused one and a failed handler
// get an HTML error page instead of the API's JSON.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"
	"github.com/riverqueue/river/rivertype"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// newUI builds the pages over the services the API uses.
func (s *Server) newUI() (*ui.UI, error) {
	var jobs *ui.Jobs
	if s.deps.Billing != nil {
		// The API's job functions (jobs.go).
		jobs = &ui.Jobs{
			List: func(ctx context.Context, states []string, limit int) ([]*rivertype.JobRow, error) {
				return s.jobs(ctx, states, nil, limit)
			},
			Retry: func(ctx context.Context, id int64, by string) error {
				_, err := s.retry(ctx, id, by)
				return err
			},
			Counts: func(ctx context.Context) (map[[2]string]int, error) { return s.deps.Billing.Queue().Counts(ctx) },
		}
	}
	var bp ui.Billing
	if s.deps.DB != nil && s.deps.Billing != nil {
		bp = billingPages{s}
	}
	d := ui.Deps{
		Numbers: s.deps.Billing, Jobs: jobs, Billing: bp,
		Accounts: s.deps.Accounts, Plugins: s.deps.Plugins, Logger: s.log,
		// Lasting plugin disables (plugin_lasting.go).
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
	}
	// The plugin buttons: the API's plugin actions, audited (plugins.go).
	d.PluginAction = s.controlPlugin
	if s.deps.Hosts != nil {
		d.Hosts = s.deps.Hosts.View
	}
	if s.deps.Installs != nil {
		// The Marketplace page, with the API's install actions
		// (plugin_install.go).
		d.Marketplace = &ui.Marketplace{
			List: func(ctx context.Context, text string) pluginstall.Market {
				return s.deps.Installs.Installer().Market(ctx, text, s.installed())
			},
			Start:  s.startPluginAction,
			Get:    s.deps.Installs.Get,
			Recent: s.deps.Installs.List,
		}
	}
	if s.deps.Billing != nil {
		// The routers page, as GET /routers/drift and POST /routers/sync.
		d.SyncRouters = s.syncRouters
	}
	if s.deps.DB != nil && s.deps.Billing != nil {
		// A location's router and who is online (location_router_pages.go).
		d.LocationRouters = s.locationRouterPages()
	}
	if s.deps.DB != nil && s.deps.Accounts != nil {
		d.Users = userPages{s} // the users and tokens pages
	}
	// The messaging page, as /api/v1/messaging (messaging.go).
	d.Messaging = messagingPages{s}
	if s.deps.DB != nil && s.deps.Billing != nil {
		d.Vouchers = voucherPages{s} // the voucher pages (voucher_pages.go)
	}
	if s.deps.DB != nil && s.deps.Billing != nil {
		d.Balances = balancePages{s} // the balance pages (balance_pages.go)
	}
	if s.deps.Billing != nil {
		d.SearchAudit = s.deps.Billing.SearchAudit // the audit page, as GET /audit (audit.go)
		d.AuditStatus = s.deps.Billing.AuditStatus
	}
	if s.deps.DB != nil && s.deps.Billing != nil {
		// The customer portal (portal.go; package ui, portal.go).
		d.Portal, d.AllowPortal = s.deps.Billing, s.allowPortal
	}
	if s.deps.DB != nil {
		// The settings form, as the API's plugin settings routes.
		d.PluginSettings, d.SavePluginSettings, d.RedactedValue = s.uiPluginSettings, s.uiSavePluginSettings, redactedValue
	}
	return ui.New(d)
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
			// The principal too, for the services the API shares with the
			// pages (the audit's actor, who saved settings).
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

// uiPluginSettings reads a plugin's saved settings for the settings form
// as GET /api/v1/plugin-settings/{plugin} shows them (secrets redacted).
func (s *Server) uiPluginSettings(r *http.Request, name string) (ui.PluginSettings, error) {
	ps, err := s.loadPluginSettings(r, name)
	if err != nil {
		return ui.PluginSettings{}, err
	}
	return uiSettings(name, s.installedManifest(name), ps)
}

// uiSavePluginSettings saves a plugin's settings from the settings form
// with the code of PUT /api/v1/plugin-settings/{plugin}; its 422 answers
// are a *ui.Refusal with their details per field.
func (s *Server) uiSavePluginSettings(r *http.Request, name string, settings json.RawMessage) (ui.PluginSettings, error) {
	m, ps, warnings, err := s.savePluginSettings(r, name, settings)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusUnprocessableEntity {
		fields, _ := ae.details.(FieldErrors)
		return ui.PluginSettings{}, &ui.Refusal{Message: ae.message, Fields: fields}
	}
	if err != nil {
		return ui.PluginSettings{}, err
	}
	return uiSettings(name, m, ps, warnings...)
}

func uiSettings(name string, m *manifest.Manifest, ps *store.PluginSettings, warnings ...string) (ui.PluginSettings, error) {
	v, err := pluginSettingsView(name, m, ps, warnings...)
	if err != nil {
		return ui.PluginSettings{}, err
	}
	values, err := store.DecodeSettings(v.Settings)
	if err != nil {
		return ui.PluginSettings{}, err
	}
	return ui.PluginSettings{Saved: v.Saved, Values: values, SecretFields: v.SecretFields, UpdatedBy: v.UpdatedBy, UpdatedAt: v.UpdatedAt, Warnings: v.Warnings}, nil
}
