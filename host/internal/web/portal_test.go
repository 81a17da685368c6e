package web

// The customer portal over the whole handler (the browser test with the
// real host and payment-manual is host/internal/cli/ui_portal_browser_test.go):
// signing in with the router login (right, wrong, over the limit), with a
// code sent through a notify plugin served with sdktest (sent, wrong,
// expired, tried too often, used once, replaced), the data used from the
// router plugin (and the page when the router does not answer), buying a
// plan, CSRF, and the isolation of the portal's and the admin UI's
// sessions.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/notify"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// codeNotifier is a notify plugin whose one session is connected or not,
// and which keeps what it sends.
type codeNotifier struct {
	sdk.Base
	mu        sync.Mutex
	connected bool
	sent      []notify.SendRequest
}

func (n *codeNotifier) Describe(context.Context, *sdk.DescribeRequest) (*sdk.DescribeResponse, error) {
	return &sdk.DescribeResponse{Name: "whatsapp", Version: "1.0.0"}, nil
}
func (n *codeNotifier) ListSessions(context.Context, *notify.ListSessionsRequest) (*notify.ListSessionsResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := notify.SessionStatusDisconnected
	if n.connected {
		st = notify.SessionStatusConnected
	}
	return &notify.ListSessionsResponse{Sessions: []notify.Session{{ID: "main", Status: st}}}, nil
}
func (n *codeNotifier) GetSession(context.Context, *notify.GetSessionRequest) (*notify.GetSessionResponse, error) {
	return nil, notify.ErrUnknownSession
}
func (n *codeNotifier) StartPairing(context.Context, *notify.StartPairingRequest) (*notify.StartPairingResponse, error) {
	return nil, sdk.ErrNotSupported
}
func (n *codeNotifier) Logout(context.Context, *notify.LogoutRequest) (*notify.LogoutResponse, error) {
	return &notify.LogoutResponse{}, nil
}
func (n *codeNotifier) Send(_ context.Context, req *notify.SendRequest) (*notify.SendResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.connected {
		return nil, notify.ErrSessionNotConnected
	}
	n.sent = append(n.sent, *req)
	return &notify.SendResponse{MessageID: fmt.Sprint(len(n.sent)), Status: notify.DeliveryStatusSent, SessionID: "main"}, nil
}
func (n *codeNotifier) GetDeliveryStatus(context.Context, *notify.GetDeliveryStatusRequest) (*notify.GetDeliveryStatusResponse, error) {
	return nil, notify.ErrUnknownMessage
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode is the code in the last message sent to phone.
func (n *codeNotifier) lastCode(t *testing.T, phone string) string {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.sent) - 1; i >= 0; i-- {
		if n.sent[i].To == phone {
			m := codeRE.FindStringSubmatch(n.sent[i].Text)
			if m == nil {
				t.Fatalf("no 6-digit code in %q", n.sent[i].Text)
			}
			return m[1]
		}
	}
	t.Fatalf("no message was sent to %s", phone)
	return ""
}

func (n *codeNotifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.sent)
}

// usageRouter reports one active session of "budi", or fails.
type usageRouter struct {
	leftoverRouter
	fail error
}

func (r *usageRouter) ListActiveSessions(_ context.Context, req *router.ListActiveSessionsRequest) (*router.ListActiveSessionsResponse, error) {
	if r.fail != nil {
		return nil, r.fail
	}
	return &router.ListActiveSessionsResponse{Sessions: []router.Session{
		{ID: "*1", Kind: req.Kind, User: "budi", Uptime: time.Hour, BytesIn: 1_000_000, BytesOut: 500_000},
	}}, nil
}

// portalEnv is the whole handler with billing, accounts and the portal,
// a customer "budi" (router password "rahasia-123", phone +6281234567890)
// with an active subscription, and the plugins above.
type portalEnv struct {
	t        *testing.T
	h        http.Handler
	db       *store.Store
	limiter  *fakeLimiter
	notifier *codeNotifier
	router   *usageRouter
	customer *store.Customer
	plan     *store.Plan
}

func newPortalEnv(t *testing.T) *portalEnv {
	t.Helper()
	ctx := context.Background()
	db := storetest.SQLite(t)
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	cipher, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &portalEnv{t: t, db: db, limiter: newFakeLimiter(), notifier: &codeNotifier{connected: true}, router: &usageRouter{leftoverRouter: leftoverRouter{logins: map[string]bool{}}}}
	gw := &testutil.Gateway{CreatePaymentFunc: func(_ context.Context, req *payment.CreatePaymentRequest) (*payment.CreatePaymentResponse, error) {
		return &payment.CreatePaymentResponse{Payment: payment.Payment{ID: "PAY-" + req.OrderID, OrderID: req.OrderID, Status: payment.StatusPending,
			Amount: req.Amount, CheckoutURL: "https://pay.example/" + req.OrderID}}, nil
	}}
	pl := testutil.Plugins{
		Notifiers: map[string]notify.Notifier{"whatsapp": sdktest.Serve(t, e.notifier).Notifier()},
		Routers:   map[string]router.Router{"mikrotik": sdktest.Serve(t, e.router).Router()},
		Payments:  map[string]payment.Gateway{"payment-fake": sdktest.Serve(t, gw).Payment()},
	}
	svc, err := billing.NewWithQueue(db, cipher, pl, billing.Config{NotifyPlugin: "whatsapp", PublicURL: "https://billing.example.net"}, nil,
		billing.QueueConfig{Jobs: jobs.Config{PollInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &cheapParams})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.Security.RateLimitMax = 10000
	s := New(Deps{Config: cfg, Metrics: metrics.New(), DB: db, Cipher: cipher, Plugins: noPlugins(t, cfg), Accounts: acc, RateLimiter: e.limiter, Billing: svc})
	e.h = s.Handler()

	q := db.Q()
	loc := &store.Location{Name: "main"}
	if err := q.CreateLocation(ctx, loc); err != nil {
		t.Fatal(err)
	}
	e.plan = &store.Plan{Name: "Home 10M", Kind: store.PlanPPPoE, Validity: 30 * 24 * time.Hour, Price: 150000, Currency: "IDR", Active: true, DataLimitBytes: 50_000_000_000}
	if err := q.CreatePlan(ctx, e.plan); err != nil {
		t.Fatal(err)
	}
	e.customer = &store.Customer{Name: "Budi Santoso", Phone: "+6281234567890", RouterUsername: "budi", RouterPassword: "rahasia-123", LocationID: loc.ID}
	if err := q.CreateCustomer(ctx, e.customer, cipher); err != nil {
		t.Fatal(err)
	}
	sub := &store.Subscription{CustomerID: e.customer.ID, PlanID: e.plan.ID, Status: store.SubscriptionActive,
		StartsAt: time.Now().Add(-24 * time.Hour), ExpiresAt: time.Now().Add(29 * 24 * time.Hour)}
	if err := q.CreateSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	return e
}

// request sends a request from 192.0.2.10 with the cookies; a form when
// form is not nil.
func (e *portalEnv) request(method, path string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = "192.0.2.10:40000"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(c)
		}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

// cookie is the cookie named name that w sets, or nil.
func cookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn signs budi in with the router login and returns the portal
// cookie.
func (e *portalEnv) signIn() *http.Cookie {
	e.t.Helper()
	w := e.request(http.MethodPost, "/portal/signin", url.Values{"username": {"budi"}, "password": {"rahasia-123"}})
	c := cookie(w, ui.PortalCookie)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/portal" || c == nil || c.Value == "" {
		e.t.Fatalf("sign-in: %d to %q, cookie %v; want 303 to /portal with the portal cookie", w.Code, w.Header().Get("Location"), c)
	}
	return c
}

func TestPortalSignInWithRouterLogin(t *testing.T) {
	e := newPortalEnv(t)
	if w := e.request(http.MethodGet, "/portal", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/portal/signin" {
		t.Errorf("anonymous home: %d to %q; want the portal's sign-in", w.Code, w.Header().Get("Location"))
	}
	w := e.request(http.MethodGet, "/portal/signin", nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="portal-password-form"`) || strings.Contains(w.Body.String(), `aria-label="Main"`) {
		t.Errorf("sign-in page: %d; want the portal's form without the admin nav:\n%s", w.Code, w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}

	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "budi", "rahasia-124"},
		{"unknown user", "nobody", "rahasia-123"},
		{"another's password", "budi", ""},
	} {
		w := e.request(http.MethodPost, "/portal/signin", url.Values{"username": {tc.user}, "password": {tc.pass}})
		if w.Code == http.StatusSeeOther || cookie(w, ui.PortalCookie) != nil {
			t.Errorf("%s: %d with cookie %v; want a refusal", tc.name, w.Code, cookie(w, ui.PortalCookie))
		}
	}

	c := e.signIn()
	if c.Path != "/portal" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("portal cookie %+v; want Path=/portal, HttpOnly, SameSite=Lax", c)
	}
	w = e.request(http.MethodGet, "/portal", nil, c)
	body := w.Body.String()
	for _, want := range []string{"Budi Santoso", `id="sub-plan">Home 10M`, `id="sub-status">active`, "1.4 MiB in the current session", "46.6 GiB", `id="portal-signout"`} {
		if !strings.Contains(body, want) {
			t.Errorf("home lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `href="/customers"`) {
		t.Error("the portal shows the admin nav")
	}

	// Signing out ends the session on the server, not only the cookie.
	w = e.request(http.MethodPost, "/portal/signout", url.Values{}, c)
	if w.Code != http.StatusSeeOther || cookie(w, ui.PortalCookie) == nil || cookie(w, ui.PortalCookie).MaxAge >= 0 {
		t.Errorf("sign-out: %d, cookie %v", w.Code, cookie(w, ui.PortalCookie))
	}
	if w := e.request(http.MethodGet, "/portal", nil, c); w.Code != http.StatusSeeOther {
		t.Errorf("the ended session still opens the portal: %d", w.Code)
	}
}

func TestPortalSignInRateLimited(t *testing.T) {
	e := newPortalEnv(t)
	for i := range PortalSubjectLimit {
		w := e.request(http.MethodPost, "/portal/signin", url.Values{"username": {"budi"}, "password": {fmt.Sprint("guess-", i)}})
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d; want 401", i+1, w.Code)
		}
	}
	// Over the limit even the right password is refused, and says why.
	w := e.request(http.MethodPost, "/portal/signin", url.Values{"username": {"budi"}, "password": {"rahasia-123"}})
	if w.Code != http.StatusTooManyRequests || cookie(w, ui.PortalCookie) != nil || !strings.Contains(w.Body.String(), "Too many attempts") || w.Header().Get("Retry-After") == "" {
		t.Errorf("over the limit: %d %q, Retry-After %q; want 429 with the message", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	var sawClient, sawUser bool
	for _, k := range e.limiter.keys {
		sawClient = sawClient || k == "portal:client:192.0.2.10"
		sawUser = sawUser || k == "portal:user:budi"
	}
	if !sawClient || !sawUser {
		t.Errorf("limiter keys %v; want the client's and the username's", e.limiter.keys)
	}
}

func TestPortalCodeSignIn(t *testing.T) {
	e := newPortalEnv(t)
	phone := e.customer.Phone
	form := url.Values{"phone": {phone}}
	if w := e.request(http.MethodGet, "/portal/signin", nil); !strings.Contains(w.Body.String(), `id="portal-code-form"`) {
		t.Fatalf("no phone form with a connected notifier:\n%s", w.Body)
	}

	// Sent; a wrong code refused; the right one signs in once.
	w := e.request(http.MethodPost, "/portal/code", form)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="portal-check-form"`) {
		t.Fatalf("send: %d\n%s", w.Code, w.Body)
	}
	code := e.notifier.lastCode(t, phone)
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
	w = e.request(http.MethodPost, "/portal/code/check", url.Values{"phone": {phone}, "code": {wrong}})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "not right") || cookie(w, ui.PortalCookie) != nil {
		t.Errorf("wrong code: %d\n%s", w.Code, w.Body)
	}
	w = e.request(http.MethodPost, "/portal/code/check", url.Values{"phone": {phone}, "code": {code}})
	if w.Code != http.StatusSeeOther || cookie(w, ui.PortalCookie) == nil {
		t.Fatalf("right code: %d\n%s", w.Code, w.Body)
	}
	if h := e.request(http.MethodGet, "/portal", nil, cookie(w, ui.PortalCookie)); !strings.Contains(h.Body.String(), "Budi Santoso") {
		t.Errorf("the code's session does not open budi's home: %d", h.Code)
	}
	if w := e.request(http.MethodPost, "/portal/code/check", url.Values{"phone": {phone}, "code": {code}}); w.Code != http.StatusUnauthorized || cookie(w, ui.PortalCookie) != nil {
		t.Errorf("the code reused: %d; want 401", w.Code)
	}

	// Expired.
	e.limiter.windows = map[string]*fakeWindow{}
	e.request(http.MethodPost, "/portal/code", form)
	code = e.notifier.lastCode(t, phone)
	if _, err := e.db.Q().DB().Exec(context.Background(), "UPDATE portal_codes SET expires_at = ?", store.Millis(time.Now().Add(-time.Second))); err != nil {
		t.Fatal(err)
	}
	if w := e.request(http.MethodPost, "/portal/code/check", url.Values{"phone": {phone}, "code": {code}}); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "expired") {
		t.Errorf("expired code: %d\n%s", w.Code, w.Body)
	}

	// Tried wrong too often: the right code no longer works.
	e.limiter.windows = map[string]*fakeWindow{}
	e.request(http.MethodPost, "/portal/code", form)
	code = e.notifier.lastCode(t, phone)
	wrong = fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
	for range billing.PortalCodeAttempts {
		e.request(http.MethodPost, "/portal/code/check", url.Values{"phone": {phone}, "code": {wrong}})
	}
	if w := e.request(http.MethodPost, "/portal/code/check", url.Values{"phone": {phone}, "code": {code}}); w.Code != http.StatusUnauthorized || cookie(w, ui.PortalCookie) != nil {
		t.Errorf("the right code after %d wrong ones: %d; want 401", billing.PortalCodeAttempts, w.Code)
	}

	// One code per phone: a new code replaces the one before.
	e.limiter.windows = map[string]*fakeWindow{}
	e.request(http.MethodPost, "/portal/code", form)
	first := e.notifier.lastCode(t, phone)
	e.request(http.MethodPost, "/portal/code", form)
	second := e.notifier.lastCode(t, phone)
	if first != second {
		if w := e.request(http.MethodPost, "/portal/code/check", url.Values{"phone": {phone}, "code": {first}}); w.Code != http.StatusUnauthorized {
			t.Errorf("the replaced code: %d; want 401", w.Code)
		}
	}
	if w := e.request(http.MethodPost, "/portal/code/check", url.Values{"phone": {phone}, "code": {second}}); w.Code != http.StatusSeeOther {
		t.Errorf("the newest code: %d; want 303", w.Code)
	}

	// A number no customer has gets the same answer and no message.
	before := e.notifier.count()
	if w := e.request(http.MethodPost, "/portal/code", url.Values{"phone": {"+6289999999999"}}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="portal-check-form"`) {
		t.Errorf("unknown phone: %d", w.Code)
	}
	if e.notifier.count() != before {
		t.Error("a message went to a number no customer has")
	}
	if w := e.request(http.MethodPost, "/portal/code", url.Values{"phone": {"081234"}}); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "country code, for example &#43;6281234567890") {
		t.Errorf("a local number: %d; want 422 saying how to write it", w.Code)
	}
}

func TestPortalCodeUnavailable(t *testing.T) {
	e := newPortalEnv(t)
	e.notifier.mu.Lock()
	e.notifier.connected = false
	e.notifier.mu.Unlock()
	w := e.request(http.MethodGet, "/portal/signin", nil)
	if !strings.Contains(w.Body.String(), `id="code-unavailable"`) || strings.Contains(w.Body.String(), `id="portal-code-form"`) {
		t.Errorf("without a connected session the phone option is offered:\n%s", w.Body)
	}
	w = e.request(http.MethodPost, "/portal/code", url.Values{"phone": {e.customer.Phone}})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "could not be sent") {
		t.Errorf("send without a session: %d\n%s", w.Code, w.Body)
	}
	var n int
	if err := e.db.Q().DB().QueryRow(context.Background(), "SELECT COUNT(*) FROM portal_codes").Scan(&n); err != nil || n != 0 {
		t.Errorf("an unsent code was kept: %d, %v", n, err)
	}
}

func TestPortalRouterUnreachable(t *testing.T) {
	e := newPortalEnv(t)
	e.router.fail = fmt.Errorf("%w: dial 192.0.2.1:8728: i/o timeout", sdk.ErrUnavailable)
	w := e.request(http.MethodGet, "/portal", nil, e.signIn())
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="usage-unknown"`) || !strings.Contains(w.Body.String(), "Home 10M") {
		t.Errorf("router away: %d; want the page saying so:\n%s", w.Code, w.Body)
	}
}

func TestPortalBuyRenewsThePlan(t *testing.T) {
	e := newPortalEnv(t)
	c := e.signIn()
	w := e.request(http.MethodPost, "/portal/buy", url.Values{"plan": {fmt.Sprint(e.plan.ID)}, "gateway": {"payment-fake"}}, c)
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "https://pay.example/INV-") {
		t.Fatalf("buy: %d to %q; want the gateway's checkout", w.Code, w.Header().Get("Location"))
	}
	ctx := context.Background()
	invs, _, err := e.db.Q().ListInvoices(ctx, store.InvoiceFilter{CustomerID: e.customer.ID}, store.Page{Limit: 10})
	if err != nil || len(invs) != 1 {
		t.Fatalf("invoices: %v %v", invs, err)
	}
	subs, _, _ := e.db.Q().ListSubscriptions(ctx, store.SubscriptionFilter{CustomerID: e.customer.ID}, store.Page{Limit: 10})
	if inv := invs[0]; inv.Status != store.InvoiceUnpaid || inv.PlanID != e.plan.ID || inv.SubscriptionID != subs[0].ID || inv.Gateway != "payment-fake" {
		t.Errorf("invoice %+v; want unpaid, renewing subscription %d", inv, subs[0].ID)
	}
	var actors []string
	rows, err := e.db.Q().DB().Query(ctx, "SELECT args FROM river_job WHERE kind = 'audit' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var args string
		if err := rows.Scan(&args); err != nil {
			t.Fatal(err)
		}
		actors = append(actors, args)
	}
	rows.Close()
	// River keeps args as JSON (PostgreSQL: jsonb, SQLite: its binary
	// JSON), so look for the values.
	if len(actors) != 2 || !strings.Contains(actors[0], "invoice.created") || !strings.Contains(actors[1], "payment.started") ||
		!strings.Contains(actors[0], "portal:budi") || !strings.Contains(actors[1], "portal:budi") {
		t.Errorf("audit jobs %v; want invoice.created and payment.started by portal:budi", actors)
	}
	w = e.request(http.MethodGet, "/portal", nil, c)
	if !strings.Contains(w.Body.String(), `href="/pay/`+invs[0].Number+"?k=") {
		t.Errorf("the unpaid invoice has no pay link:\n%s", w.Body)
	}

	// A gateway that is not there: the invoice is cancelled, the page says so.
	w = e.request(http.MethodPost, "/portal/buy", url.Values{"plan": {fmt.Sprint(e.plan.ID)}, "gateway": {"payment-gone"}}, c)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "not available") {
		t.Errorf("missing gateway: %d\n%s", w.Code, w.Body)
	}
	if invs, _, _ := e.db.Q().ListInvoices(ctx, store.InvoiceFilter{CustomerID: e.customer.ID, Status: store.InvoiceUnpaid}, store.Page{Limit: 10}); len(invs) != 1 {
		t.Errorf("%d unpaid invoices after a refused gateway; want the first only", len(invs))
	}
}

func TestPortalCSRF(t *testing.T) {
	e := newPortalEnv(t)
	req := httptest.NewRequest(http.MethodPost, "/portal/signin", strings.NewReader(url.Values{"username": {"budi"}, "password": {"rahasia-123"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != http.StatusForbidden || cookie(w, ui.PortalCookie) != nil {
		t.Errorf("cross-site sign-in: %d; want 403", w.Code)
	}
}

// TestPortalSessionsIsolated: an admin's session cookie opens no portal
// page, and a customer's portal session opens no admin page, under either
// cookie name.
func TestPortalSessionsIsolated(t *testing.T) {
	e := newPortalEnv(t)
	u, err := auth.NewUser(context.Background(), cheapParams.Hash, "boss", "correct horse battery", store.UserRoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.Q().CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	w := e.request(http.MethodPost, "/signin", url.Values{"username": {"boss"}, "password": {"correct horse battery"}})
	admin := cookie(w, auth.SessionCookie)
	if admin == nil {
		t.Fatalf("admin sign-in: %d", w.Code)
	}
	if w := e.request(http.MethodGet, "/", nil, admin); w.Code != http.StatusOK {
		t.Fatalf("the admin cookie does not open the dashboard: %d", w.Code)
	}
	portal := e.signIn()

	asPortal := &http.Cookie{Name: ui.PortalCookie, Value: admin.Value}
	for name, c := range map[string]*http.Cookie{"admin cookie": admin, "admin value as portal cookie": asPortal} {
		if w := e.request(http.MethodGet, "/portal", nil, c); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/portal/signin" {
			t.Errorf("%s on /portal: %d to %q; want the portal's sign-in", name, w.Code, w.Header().Get("Location"))
		}
		if w := e.request(http.MethodPost, "/portal/buy", url.Values{"plan": {"1"}, "gateway": {"payment-fake"}}, c); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/portal/signin" {
			t.Errorf("%s on POST /portal/buy: %d to %q", name, w.Code, w.Header().Get("Location"))
		}
	}
	asAdmin := &http.Cookie{Name: auth.SessionCookie, Value: portal.Value}
	for name, c := range map[string]*http.Cookie{"portal cookie": portal, "portal value as admin cookie": asAdmin} {
		if w := e.request(http.MethodGet, "/", nil, c); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/signin") {
			t.Errorf("%s on the dashboard: %d to %q; want the admin sign-in", name, w.Code, w.Header().Get("Location"))
		}
		if w := e.request(http.MethodGet, "/api/v1/auth/me", nil, c); w.Code != http.StatusUnauthorized {
			t.Errorf("%s on the API: %d; want 401", name, w.Code)
		}
	}
	// Both at once: each side sees its own.
	if w := e.request(http.MethodGet, "/portal", nil, admin, portal); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Budi Santoso") {
		t.Errorf("both cookies on /portal: %d", w.Code)
	}
	if w := e.request(http.MethodGet, "/", nil, admin, portal); w.Code != http.StatusOK {
		t.Errorf("both cookies on the dashboard: %d", w.Code)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestPortalInvoicePDF: a signed-in customer downloads their invoice as a
// PDF from the link on the portal's home page; another customer's
// invoice, an id that is no invoice, and an anonymous request get no PDF.
func TestPortalInvoicePDF(t *testing.T) {
	e := newPortalEnv(t)
	ctx := context.Background()
	q := e.db.Q()
	own := &store.Invoice{CustomerID: e.customer.ID, PlanID: e.plan.ID, Amount: 150000, Currency: "IDR", DueAt: time.Now().Add(24 * time.Hour)}
	if err := q.CreateInvoice(ctx, own); err != nil {
		t.Fatal(err)
	}
	other := &store.Customer{Name: "Sari", Phone: "+6281200000001", RouterUsername: "sari", RouterPassword: "rahasia-456", LocationID: e.customer.LocationID}
	cipher, err := store.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.CreateCustomer(ctx, other, cipher); err != nil {
		t.Fatal(err)
	}
	theirs := &store.Invoice{CustomerID: other.ID, PlanID: e.plan.ID, Amount: 150000, Currency: "IDR", DueAt: time.Now().Add(24 * time.Hour)}
	if err := q.CreateInvoice(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	c := e.signIn()
	link := fmt.Sprintf("/portal/invoices/%d/pdf", own.ID)
	if home := e.request(http.MethodGet, "/portal", nil, c); !strings.Contains(home.Body.String(), `href="`+link+`"`) {
		t.Errorf("the home page has no PDF link %s:\n%s", link, home.Body)
	}
	w := e.request(http.MethodGet, link, nil, c)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/pdf" || !strings.HasPrefix(w.Body.String(), "%PDF") {
		t.Fatalf("own invoice: %d %q %.20q; want a PDF", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	if cd := w.Header().Get("Content-Disposition"); !strings.Contains(cd, own.Number) {
		t.Errorf("Content-Disposition %q does not name %s", cd, own.Number)
	}
	for _, path := range []string{fmt.Sprintf("/portal/invoices/%d/pdf", theirs.ID), "/portal/invoices/999999/pdf", "/portal/invoices/x/pdf"} {
		if w := e.request(http.MethodGet, path, nil, c); w.Code != http.StatusNotFound || strings.HasPrefix(w.Body.String(), "%PDF") {
			t.Errorf("%s: %d; want 404 without a PDF", path, w.Code)
		}
	}
	if w := e.request(http.MethodGet, link, nil); w.Code == http.StatusOK {
		t.Errorf("anonymous: %d; want a refusal or the sign-in page", w.Code)
	}
}
