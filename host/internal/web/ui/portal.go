package ui

// The customer portal (/portal): a customer signs in with their router
// username and password, or with a one-time code sent to their phone, and
// sees their subscription, data used and invoices, and buys or renews a
// plan. It lives in this package for the catalog, the money and date
// formatting, the static files and the rendering it shares with the admin
// pages, but it has its own layout (portal_layout.html, no admin nav), its
// own stylesheet (portal.css), its own session cookie (PortalCookie, Path
// /portal) and its own error page. The web package installs its routes
// (portalPage in host/internal/web/portal.go), checks the session and puts
// the customer in the request's context (WithCustomer).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
)

func init() {
	pageFiles = append(pageFiles, "portal_signin.html", "portal_home.html", "portal_error.html")
}

// PortalCookie carries a customer's portal session; only /portal sees it,
// and the admin UI's session cookie (auth.SessionCookie) opens nothing
// here, nor this one anything there.
const PortalCookie = "mikrobill_portal"

// Portal is what the portal's pages ask of the host: billing.Service's
// portal methods.
type Portal interface {
	PortalSignIn(ctx context.Context, username, password string) (*store.Customer, error)
	PortalCodesAvailable(ctx context.Context) bool
	PortalSendCode(ctx context.Context, phone string, message func(code string) string) error
	PortalCheckCode(ctx context.Context, phone, code string) (*store.Customer, error)
	PortalStartSession(ctx context.Context, customerID int64, remote string) (string, time.Time, error)
	PortalEndSession(ctx context.Context, value string) error
	PortalHome(ctx context.Context, customerID int64) (*billing.PortalHome, error)
	PortalBuy(ctx context.Context, customerID, planID int64, gateway, actor string) (*billing.PaymentStart, error)
	PortalInvoicePDF(ctx context.Context, w io.Writer, customerID, invoiceID int64, lang string) (string, error)
}

var _ Portal = (*billing.Service)(nil)

type customerKey struct{}

// WithCustomer returns ctx carrying the customer signed in to the portal.
func (u *UI) WithCustomer(ctx context.Context, c *store.Customer) context.Context {
	return context.WithValue(ctx, customerKey{}, c)
}

// customerFrom returns the request's signed-in customer, or nil.
func customerFrom(r *http.Request) *store.Customer {
	c, _ := r.Context().Value(customerKey{}).(*store.Customer)
	return c
}

// portalSignInData is the portal's sign-in page's.
type portalSignInData struct {
	Username, Phone string
	// CodesAvailable: a code can be sent to a phone now.
	CodesAvailable bool
	// CodeSent: the page asks for the code sent to Phone.
	CodeSent bool
}

// PortalSignInForm serves GET /portal/signin. A signed-in customer goes
// home.
func (u *UI) PortalSignInForm(w http.ResponseWriter, r *http.Request) error {
	if customerFrom(r) != nil {
		redirect(w, r, "/portal")
		return nil
	}
	v := view{}
	if r.URL.Query().Has("out") {
		v.Notice = "portal.signed_out"
	}
	return u.portalSignInPage(w, r, http.StatusOK, v, &portalSignInData{})
}

func (u *UI) portalSignInPage(w http.ResponseWriter, r *http.Request, status int, v view, d *portalSignInData) error {
	d.CodesAvailable = u.deps.Portal.PortalCodesAvailable(r.Context())
	v.Title, v.Data = "portal.signin.title", d
	return u.render(w, r, status, "portal_signin.html", v)
}

// PortalSignIn serves POST /portal/signin: the router username and
// password, within the sign-in limits per client and per username.
func (u *UI) PortalSignIn(w http.ResponseWriter, r *http.Request) error {
	username, password := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	d := &portalSignInData{Username: username}
	if username == "" || password == "" {
		return u.portalSignInPage(w, r, http.StatusUnprocessableEntity, view{Problem: "portal.signin.required"}, d)
	}
	if ok, err := u.deps.AllowPortal(w, r, "user:"+strings.ToLower(username)); err != nil || !ok {
		if err != nil {
			return err
		}
		return u.portalSignInPage(w, r, http.StatusTooManyRequests, view{Problem: "portal.limited"}, d)
	}
	c, err := u.deps.Portal.PortalSignIn(r.Context(), username, password)
	if errors.Is(err, billing.ErrPortalBadCredentials) {
		u.log.Info("portal sign-in refused", "remote", u.deps.ClientKey(r))
		return u.portalSignInPage(w, r, http.StatusUnauthorized, view{Problem: "portal.signin.bad"}, d)
	}
	if err != nil {
		return err
	}
	return u.portalStart(w, r, c, "password")
}

// PortalSendCode serves POST /portal/code: a one-time code is sent to the
// phone, within the limits per client and per phone. The page then asks
// for it, whether or not the number is a customer's.
func (u *UI) PortalSendCode(w http.ResponseWriter, r *http.Request) error {
	phone := strings.TrimSpace(r.PostFormValue("phone"))
	d := &portalSignInData{Phone: phone}
	if phone == "" {
		return u.portalSignInPage(w, r, http.StatusUnprocessableEntity, view{Problem: "portal.code.phone_required"}, d)
	}
	if ok, err := u.deps.AllowPortal(w, r, "phone:"+phone); err != nil || !ok {
		if err != nil {
			return err
		}
		return u.portalSignInPage(w, r, http.StatusTooManyRequests, view{Problem: "portal.limited"}, d)
	}
	lang := languageOf(r)
	err := u.deps.Portal.PortalSendCode(r.Context(), phone, func(code string) string {
		msg, _ := translate(lang, "portal.code.message", code, int(billing.PortalCodeTTL/time.Minute))
		return msg
	})
	switch {
	case errors.Is(err, sdk.ErrInvalidArgument):
		return u.portalSignInPage(w, r, http.StatusUnprocessableEntity, view{Problem: "portal.code.phone_wrong"}, d)
	case errors.Is(err, billing.ErrPortalPhoneShared):
		return u.portalSignInPage(w, r, http.StatusConflict, view{Problem: "portal.code.shared"}, d)
	case errors.Is(err, billing.ErrPortalNoMessaging):
		u.log.Warn("portal code not sent", "error", err)
		return u.portalSignInPage(w, r, http.StatusServiceUnavailable, view{Problem: "portal.code.unavailable"}, d)
	case err != nil:
		return err
	}
	d.CodeSent = true
	return u.portalSignInPage(w, r, http.StatusOK, view{Notice: "portal.code.sent", NoticeArg: phone}, d)
}

// PortalCheckCode serves POST /portal/code/check: the phone's code signs
// the customer in, once.
func (u *UI) PortalCheckCode(w http.ResponseWriter, r *http.Request) error {
	phone, code := strings.TrimSpace(r.PostFormValue("phone")), strings.TrimSpace(r.PostFormValue("code"))
	d := &portalSignInData{Phone: phone, CodeSent: true}
	if phone == "" || code == "" {
		return u.portalSignInPage(w, r, http.StatusUnprocessableEntity, view{Problem: "portal.code.required"}, d)
	}
	if ok, err := u.deps.AllowPortal(w, r, "phone:"+phone); err != nil || !ok {
		if err != nil {
			return err
		}
		return u.portalSignInPage(w, r, http.StatusTooManyRequests, view{Problem: "portal.limited"}, d)
	}
	c, err := u.deps.Portal.PortalCheckCode(r.Context(), phone, code)
	switch {
	case errors.Is(err, billing.ErrPortalBadCode):
		return u.portalSignInPage(w, r, http.StatusUnauthorized, view{Problem: "portal.code.bad"}, d)
	case errors.Is(err, billing.ErrPortalCodeExpired):
		d.CodeSent = false
		return u.portalSignInPage(w, r, http.StatusUnauthorized, view{Problem: "portal.code.expired"}, d)
	case err != nil:
		return err
	}
	return u.portalStart(w, r, c, "code")
}

// portalStart ends the session the browser held, starts the customer's and
// goes home.
func (u *UI) portalStart(w http.ResponseWriter, r *http.Request, c *store.Customer, via string) error {
	if old, err := r.Cookie(PortalCookie); err == nil && old.Value != "" {
		if err := u.deps.Portal.PortalEndSession(r.Context(), old.Value); err != nil {
			return err
		}
	}
	value, expires, err := u.deps.Portal.PortalStartSession(r.Context(), c.ID, u.deps.ClientKey(r))
	if err != nil {
		return err
	}
	http.SetCookie(w, u.portalCookie(r, value, int(time.Until(expires)/time.Second)))
	u.log.Info("customer signed in to the portal", "customer", c.ID, "via", via, "remote", u.deps.ClientKey(r))
	redirect(w, r, "/portal")
	return nil
}

func (u *UI) portalCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: PortalCookie, Value: value, Path: "/portal", MaxAge: maxAge,
		HttpOnly: true, Secure: u.deps.Secure(r), SameSite: http.SameSiteLaxMode}
}

// PortalSignOut serves POST /portal/signout.
func (u *UI) PortalSignOut(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(PortalCookie); err == nil && c.Value != "" {
		if err := u.deps.Portal.PortalEndSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, u.portalCookie(r, "", -1))
	redirect(w, r, "/portal/signin?out=1")
	return nil
}

// portalHomeData is the portal's home page's.
type portalHomeData struct {
	*billing.PortalHome
	// Used is the data used, written for the page's language.
	Used string
	// Limit is the plan's data limit, written as Used is.
	Limit    string
	Gateways []string
	// Open are the invoices not paid; Receipts the paid ones.
	Open, Receipts []billing.PortalInvoice
	// PlanID is the plan to preselect (the current one: renew).
	PlanID int64
}

// PortalHome serves GET /portal.
func (u *UI) PortalHome(w http.ResponseWriter, r *http.Request) error {
	return u.portalHomePage(w, r, http.StatusOK, view{})
}

func (u *UI) portalHomePage(w http.ResponseWriter, r *http.Request, status int, v view) error {
	c := customerFrom(r)
	h, err := u.deps.Portal.PortalHome(r.Context(), c.ID)
	if err != nil {
		return err
	}
	d := &portalHomeData{PortalHome: h, Gateways: u.gateways()}
	if h.Usage != nil {
		d.Used = formatBytes(languageOf(r), h.Usage.Bytes)
	}
	for _, inv := range h.Invoices {
		if inv.Status == store.InvoicePaid {
			d.Receipts = append(d.Receipts, inv)
		} else {
			d.Open = append(d.Open, inv)
		}
	}
	if h.Current != nil {
		d.PlanID = h.Current.PlanID
		if h.Current.Plan != nil && h.Current.Plan.DataLimitBytes > 0 {
			d.Limit = formatBytes(languageOf(r), uint64(h.Current.Plan.DataLimitBytes))
		}
	}
	if r.URL.Query().Has("paid") {
		v.Notice = "portal.home.back"
	}
	v.Title, v.Data = "portal.home.title", d
	return u.render(w, r, status, "portal_home.html", v)
}

// PortalBuy serves POST /portal/buy: an invoice for the chosen plan and
// its payment at the chosen gateway; the customer goes to the gateway's
// checkout, or to the invoice's pay page.
func (u *UI) PortalBuy(w http.ResponseWriter, r *http.Request) error {
	c := customerFrom(r)
	planID, _ := strconv.ParseInt(r.PostFormValue("plan"), 10, 64)
	gateway := r.PostFormValue("gateway")
	if planID <= 0 || gateway == "" {
		return u.portalHomePage(w, r, http.StatusUnprocessableEntity, view{Problem: "portal.buy.required"})
	}
	who := c.RouterUsername
	if who == "" {
		who = strconv.FormatInt(c.ID, 10)
	}
	start, err := u.deps.Portal.PortalBuy(r.Context(), c.ID, planID, gateway, "portal:"+who)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, sdk.ErrFailedPrecondition):
		return u.portalHomePage(w, r, http.StatusUnprocessableEntity, view{Problem: "portal.buy.plan_refused"})
	case errors.Is(err, billing.ErrNoPlugin), errors.Is(err, sdk.ErrUnavailable), errors.Is(err, sdk.ErrInvalidArgument):
		u.log.Warn("portal purchase not started", "customer", c.ID, "gateway", gateway, "error", err)
		return u.portalHomePage(w, r, http.StatusServiceUnavailable, view{Problem: "portal.buy.gateway_refused"})
	case err != nil:
		return err
	}
	to := start.Payment.CheckoutURL
	if to == "" {
		to = start.Invoice.PaymentURL
	}
	u.log.Info("portal purchase", "customer", c.ID, "invoice", start.Invoice.Number, "gateway", gateway)
	// The gateway's checkout is another site: a plain 303 to it.
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// PortalFail answers a portal page's error with the portal's error page.
func (u *UI) PortalFail(w http.ResponseWriter, r *http.Request, status int, requestID string) {
	msg := fmt.Sprintf("portal.error.%d", status)
	if _, ok := catalogs["en"][msg]; !ok {
		msg = "portal.error.500"
	}
	v := view{Lang: languageOf(r), Title: "portal.error.title", Path: r.URL.Path, Customer: customerFrom(r), Data: errorData{status, msg, requestID}}
	if err := u.renderView(w, status, "portal_error.html", "layout", v); err != nil {
		u.log.Error("render the portal's error page", "status", status, "error", err)
		http.Error(w, http.StatusText(status), status)
	}
}

// PortalInvoicePDF answers GET /portal/invoices/{id}/pdf: the signed-in
// customer's invoice, or receipt once paid, as a PDF in the page's
// language. Another customer's invoice is not found.
func (u *UI) PortalInvoicePDF(w http.ResponseWriter, r *http.Request) error {
	c := customerFrom(r)
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil || id <= 0 {
		u.PortalFail(w, r, http.StatusNotFound, "")
		return nil
	}
	var buf bytes.Buffer
	name, err := u.deps.Portal.PortalInvoicePDF(r.Context(), &buf, c.ID, id, languageOf(r))
	if errors.Is(err, store.ErrNotFound) {
		u.PortalFail(w, r, http.StatusNotFound, "")
		return nil
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// HasCustomer reports whether a customer is signed in to the portal for
// the request.
func (u *UI) HasCustomer(r *http.Request) bool { return customerFrom(r) != nil }
