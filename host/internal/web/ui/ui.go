// Package ui is the admin web UI: server-rendered pages over the same
// services the API uses (auth.Service for accounts and sessions, the plugin
// manager for plugins), served by the host at / on the API's port.
//
// Start at the handlers, one file per page (signin.go, password.go,
// dashboard.go); the web package installs them in its one route table
// (host/internal/web/routes.go), with the role each needs. The web package
// authenticates the caller, checks the role and puts the User in the
// request's context (WithUser) before a handler runs; a handler that
// returns an error gets the error page (Fail).
//
// Pages are html/template files in templates/, parsed once per language at
// New: layout.html around each page's "content". Every string goes
// through the catalog (i18n.go) with {{t "key"}}. A page is rendered into a
// buffer before anything is written, so a failed render is a clean error
// page. Static files (static/, with the vendored htmx and uPlot, recorded
// in static/vendor/VENDORED.md) are embedded in the binary. Pages allow
// scripts and styles from the host's own files only (CSP).
package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/text/language"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/hosts"
	"github.com/mikrobill/mikrobill/host/internal/money"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP is the Content-Security-Policy of every page and static file: the
// host's own scripts, styles and images, nothing inline, no frames.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// PortalCSP is the customer portal's pages' (portal.go): CSP, but a form
// may lead to a gateway's HTTPS checkout, as buying a plan does.
const PortalCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'"

// Deps are the services the pages use and the host's rules the web package
// owns.
type Deps struct {
	// Accounts signs users in and out and changes passwords.
	Accounts *auth.Service
	// Plugins reports the plugins (nil: no plugins).
	Plugins *plugins.Manager
	// PluginAction restarts, disables or enables (verb) the plugin name
	// for the request's user, audited, with the code of POST
	// /api/v1/plugins/{name}/{verb}; a lasting disable keeps it disabled
	// across restarts, and enable forgets that.
	PluginAction func(r *http.Request, name, verb string, lasting bool) error
	// Hosts lists the hosts sharing the database, for the plugin list
	// (nil: none shown).
	Hosts func(ctx context.Context) (hosts.View, error)
	// Billing is the catalog and billing for their pages (billing.go).
	Billing Billing
	Logger  hclog.Logger
	// Secure reports whether the request came over HTTPS (the cookie's
	// Secure attribute).
	Secure func(*http.Request) bool
	// ClientKey names the client for the session's record and the sign-in
	// limit.
	ClientKey func(*http.Request) string
	// AllowSignIn counts a sign-in attempt for the client and username and
	// reports whether it is within the limit (the API's login limit).
	AllowSignIn func(w http.ResponseWriter, r *http.Request, username string) (bool, error)
	// RoleAtLeast reports whether role has the rights of min.
	RoleAtLeast func(role, min string) bool
	// Numbers gives the dashboard its billing figures and charts (nil: the
	// plugin tiles only), and the reports page its reports (reports.go).
	Numbers *billing.Service
	// Jobs lists and retries jobs with the API's code (nil: no jobs page).
	Jobs *Jobs
	// Users are the users and API tokens pages' (users.go).
	Users Users
	// PluginSettings reads a plugin's saved settings as GET
	// /api/v1/plugin-settings/{plugin} shows them, and SavePluginSettings
	// saves them with PUT's code, a refusal being a *Refusal (both nil:
	// no settings store, no settings form). RedactedValue is what stands
	// for a stored secret, which a save keeps.
	PluginSettings     func(r *http.Request, plugin string) (PluginSettings, error)
	SavePluginSettings func(r *http.Request, plugin string, settings json.RawMessage) (PluginSettings, error)
	RedactedValue      string
	// SyncRouters compares the store with the routers (location empty:
	// every one) and, with repair, makes them match, with the code of GET
	// /api/v1/routers/drift and POST /api/v1/routers/sync (nil: no routers
	// page). A repair refused for its removals returns the plan and an
	// error wrapping billing.ErrRemovalsNotAllowed.
	SyncRouters func(r *http.Request, location string, repair bool, allowRemovals int) (*billing.SyncReport, error)
	// Messaging lists, pairs and logs out the notify plugins' sessions
	// with the code of /api/v1/messaging (messaging.go; nil: no
	// messaging pages).
	Messaging Messaging
	// Vouchers are the voucher pages' (vouchers.go; nil: no voucher
	// pages).
	Vouchers Vouchers
	// Balances are the balance pages' (balance.go; nil: no balance
	// pages).
	Balances Balances
	// SearchAudit searches the audit log with the search of GET
	// /api/v1/audit (billing.Service.SearchAudit; nil: no audit page).
	SearchAudit func(ctx context.Context, q billing.AuditQuery) (*billing.AuditPage, error)
	// AuditStatus is the audit trail's delivery, its log's latest
	// verification and pinned key (billing.Service.AuditStatus), shown
	// above the audit page's search (nil: not shown).
	AuditStatus func(ctx context.Context) (*billing.AuditStatus, error)
	// Portal is the customer portal's (portal.go; nil: no portal).
	// AllowPortal counts a portal sign-in attempt for the client and for
	// subject (the username or phone it names) and reports whether both
	// are within the limit.
	Portal      Portal
	AllowPortal func(w http.ResponseWriter, r *http.Request, subject string) (bool, error)
	// Marketplace is the Marketplace page's (marketplace.go; nil: no
	// such page).
	Marketplace *Marketplace
	// LocationRouters are the locations' routers and sessions
	// (location_routers.go; nil: the locations page lists names only).
	LocationRouters *LocationRouters
}

// UI serves the pages.
type UI struct {
	deps Deps
	log  hclog.Logger
	// pages are the page files parsed so far, for each language: a page
	// is parsed on its first render in a language (UI.page), so a host
	// nobody browses keeps none of the templates' parse trees (about
	// 4 MB a language when every page is parsed).
	pagesMu sync.Mutex
	pages   map[pageKey]*template.Template
	// static maps a static file's path to its content hash, for cache
	// busting links (staticURL).
	static map[string]string
}

// pageFiles are the pages, each parsed with layout.html.
var pageFiles = []string{"signin.html", "password.html", "dashboard.html", "error.html", "jobs.html", "plugins.html", "plugin.html", "plugin_settings.html", "marketplace.html"}

// partials are parsed with every page: the layout, and the templates
// pages share.
var partials = []string{"templates/layout.html", "templates/form.html"}

// portalPartials are parsed with the customer portal's pages (portal_*.html)
// instead: its own layout, without the admin nav.
var portalPartials = []string{"templates/portal_layout.html"}

// pageKey names a page file parsed for a language.
type pageKey struct{ lang, name string }

// New reads the static files' hashes; the templates are parsed when a
// page is first rendered (UI.page; TestEveryPageParses parses them all).
func New(d Deps) (*UI, error) {
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	u := &UI{deps: d, log: d.Logger.Named("ui"), pages: map[pageKey]*template.Template{}, static: map[string]string{}}
	err := fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		u.static[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the UI's static files: %w", err)
	}
	return u, nil
}

// page returns the page file name parsed for lang (with its layout and
// partials), parsing it on its first use in that language.
func (u *UI) page(lang, name string) (*template.Template, error) {
	u.pagesMu.Lock()
	defer u.pagesMu.Unlock()
	k := pageKey{lang, name}
	if t := u.pages[k]; t != nil {
		return t, nil
	}
	if catalogs[lang] == nil {
		return nil, fmt.Errorf("no UI language %q", lang)
	}
	if !slices.Contains(pageFiles, name) {
		return nil, fmt.Errorf("no UI page %q (pageFiles lists the pages)", name)
	}
	parts := partials
	if strings.HasPrefix(name, "portal_") {
		parts = portalPartials // the portal's own layout (portal.go)
	}
	t, err := template.New(name).Funcs(u.funcs(lang)).ParseFS(templateFS, append(slices.Clone(parts), "templates/"+name)...)
	if err != nil {
		return nil, fmt.Errorf("parse the UI template %s: %w", name, err)
	}
	u.pages[k] = t
	return t, nil
}

// funcs are the templates' functions for a language.
func (u *UI) funcs(lang string) template.FuncMap {
	tag := language.Make(lang)
	return template.FuncMap{
		"t":      func(key string, args ...any) (string, error) { return translate(lang, key, args...) },
		"static": u.staticURL,
		// field, date and duration are the billing pages' (billing.go).
		"field":    newField,
		"date":     func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") },
		"duration": func(d time.Duration) (string, error) { return duration(lang, d) },
		// money writes an amount in a currency's minor units for the
		// page's language: every page shows money through it.
		"money": func(amount int64, currency string) string { return money.Format(tag, amount, currency) },
	}
}

// staticURL is the link to a static file, carrying its content hash so
// browsers may keep it for good.
func (u *UI) staticURL(name string) (string, error) {
	sum, ok := u.static[name]
	if !ok {
		return "", fmt.Errorf("no static file %q under host/internal/web/ui/static", name)
	}
	return "/static/" + name + "?v=" + sum, nil
}

// User is the signed-in caller of a page.
type User struct {
	ID       int64
	Username string
	Role     string
	// can is the host's role rule (Deps.RoleAtLeast).
	can func(role, min string) bool
}

// Can reports whether the user has at least the rights of role, for
// showing only the buttons the user may press.
func (x *User) Can(role string) bool { return x != nil && x.can != nil && x.can(x.Role, role) }

type userKey struct{}

// WithUser returns ctx carrying the signed-in user.
func (u *UI) WithUser(ctx context.Context, id int64, username, role string) context.Context {
	return context.WithValue(ctx, userKey{}, &User{ID: id, Username: username, Role: role, can: u.deps.RoleAtLeast})
}

// userFrom returns the request's signed-in user, or nil.
func userFrom(r *http.Request) *User {
	x, _ := r.Context().Value(userKey{}).(*User)
	return x
}

// view is what every page's template gets.
type view struct {
	Lang string
	// Title is the catalog key of the page's title.
	Title string
	User  *User
	// Customer is the customer signed in to the portal (portal.go).
	Customer *store.Customer
	// Path is the request's path, for marking the current page in the nav.
	Path string
	// Notice and Problem are catalog keys of a message to show (Problem
	// as an alert), with the argument of their message, if any.
	Notice, Problem       string
	NoticeArg, ProblemArg any
	// Data is the page's own.
	Data any
	// HasMarketplace: the nav links the Marketplace page.
	HasMarketplace bool
}

// render writes a page with status, rendered whole first; a failed render
// is the error page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) error {
	return u.renderPart(w, r, status, name, "layout", v)
}

// renderPart writes one template of a page file (a fragment htmx swaps
// in), rendered whole first.
func (u *UI) renderPart(w http.ResponseWriter, r *http.Request, status int, name, part string, v view) error {
	v.Lang, v.User, v.Customer, v.Path = languageOf(r), userFrom(r), customerFrom(r), r.URL.Path
	v.HasMarketplace = u.deps.Marketplace != nil
	return u.renderView(w, status, name, part, v)
}

// renderView writes a template of a page file with v as it is, rendered
// whole first.
func (u *UI) renderView(w http.ResponseWriter, status int, name, part string, v view) error {
	t, err := u.page(v.Lang, name)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, part, v); err != nil {
		return fmt.Errorf("render the page %s: %w", name, err)
	}
	if strings.HasPrefix(name, "portal_") {
		w.Header().Set("Content-Security-Policy", PortalCSP)
	}
	writePage(w, status, buf.Bytes())
	return nil
}

func writePage(w http.ResponseWriter, status int, page []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if h.Get("Content-Security-Policy") != PortalCSP {
		h.Set("Content-Security-Policy", CSP)
	}
	h.Add("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	_, _ = w.Write(page)
}

// errorData is the error page's.
type errorData struct {
	Status    int
	Message   string // the catalog key of what happened
	RequestID string
}

// Fail answers with the error page for status (its message from the
// catalog, error.<status>, or error.500). The web package calls it for
// the errors handlers return, after logging them; requestID lets the
// operator find the log line. An htmx request (HX-Request) gets the
// message alone, a fragment that static/alerts.js shows in the page's
// alert region, as htmx swaps nothing for an error status.
func (u *UI) Fail(w http.ResponseWriter, r *http.Request, status int, requestID string) {
	msg := fmt.Sprintf("error.%d", status)
	if _, ok := catalogs["en"][msg]; !ok {
		msg = "error.500"
	}
	part := "layout"
	if r.Header.Get("HX-Request") == "true" {
		part = "fragment"
	}
	var buf bytes.Buffer
	v := view{Lang: languageOf(r), Title: "error.title", User: userFrom(r), Path: r.URL.Path, Data: errorData{status, msg, requestID}}
	t, err := u.page(v.Lang, "error.html")
	if err == nil {
		err = t.ExecuteTemplate(&buf, part, v)
	}
	if err != nil {
		u.log.Error("render the error page", "status", status, "error", err)
		http.Error(w, http.StatusText(status), status)
		return
	}
	writePage(w, status, buf.Bytes())
}

// Static serves the embedded static files. A link with the file's current
// hash (staticURL) may be kept for a year; other requests revalidate.
func (u *UI) Static(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static/")
	sum, ok := u.static[name]
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	if r.URL.Query().Get("v") == sum {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+sum+`"`)
	http.ServeFileFS(w, r, staticFS, "static/"+name)
	return nil
}

// redirect sends the browser to a page after a form (303, so a reload does
// not post again).
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}
