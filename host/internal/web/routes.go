package web

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// Handler returns the host's HTTP handler with every route and middleware.
func (s *Server) Handler() http.Handler {
	return s.recoverer(s.requestID(s.securityHeaders(s.requestTimeout(s.compress(s.apiGuard(s.limitBody(s.router())))))))
}

// router installs every route of the host, each on one line with the role
// it needs (rolePublic: no credentials). The handlers are in files named
// by resource: customers.go, invoices.go, health.go, ... Routes whose
// dependency is missing (no database, no billing, no accounts) are not
// installed. The route-by-role test walks every route it installs.
func (s *Server) router() *mux.Router {
	const (
		get, head, post, put = http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut
		patch, del           = http.MethodPatch, http.MethodDelete
	)
	r := mux.NewRouter()
	// measure needs the matched route, which only middleware inside the
	// router sees; the rest wraps the router so unmatched requests get it too.
	r.Use(s.measure)

	// Probes and metrics, for load balancers and Prometheus (health.go).
	s.route(r, get, "/live", rolePublic, s.live)
	s.route(r, head, "/live", rolePublic, s.live)
	s.route(r, get, "/ready", rolePublic, s.ready)
	s.route(r, head, "/ready", rolePublic, s.ready)
	s.route(r, get, "/health", rolePublic, s.health)
	s.route(r, head, "/health", rolePublic, s.health)
	s.route(r, get, "/health/detailed", rolePublic, s.healthDetailed)
	s.route(r, get, "/health/plugins", rolePublic, s.healthPlugins)
	s.route(r, get, "/metrics", rolePublic, serveWith(s.deps.Metrics.Handler(s.deps.PluginMetrics)))

	// The admin API. Cookie-authenticated browsers must not be tricked into
	// unsafe requests from other sites (csrf); authenticate finds the
	// caller, and each route checks the caller's role.
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Use(s.csrf, s.authenticate)

	if s.deps.Accounts != nil && s.deps.DB != nil {
		// Signing in and out is public (sessions.go); everyone manages
		// their own API tokens, admins see and revoke everyone's
		// (tokens.go); users are for admins (users.go).
		s.route(api, post, "/auth/login", rolePublic, s.login)
		s.route(api, post, "/auth/logout", rolePublic, s.logout)
		s.route(api, get, "/auth/me", RoleViewer, s.me)

		s.route(api, get, "/tokens", RoleViewer, s.listTokens)
		s.route(api, post, "/tokens", RoleViewer, s.createToken)
		s.route(api, del, "/tokens/{id}", RoleViewer, s.revokeToken)

		s.route(api, get, "/users", RoleAdmin, s.listUsers)
		s.route(api, post, "/users", RoleAdmin, s.createUser)
		s.route(api, get, "/users/{id}", RoleAdmin, s.getUser)
		s.route(api, patch, "/users/{id}", RoleAdmin, s.updateUser)
		s.route(api, del, "/users/{id}", RoleAdmin, s.deleteUser)
	}

	if s.deps.DB != nil {
		// The catalog. Reading is for viewers, changing for operators;
		// deleting what others hang on (locations, plans, templates) and
		// writing plugin settings is for admins. Voucher codes are bearer
		// credentials, so listing them is for operators.
		s.route(api, get, "/locations", RoleViewer, s.listLocations)
		s.route(api, post, "/locations", RoleOperator, s.createLocation)
		s.route(api, get, "/locations/{id}", RoleViewer, s.getLocation)
		s.route(api, put, "/locations/{id}", RoleOperator, s.updateLocation)
		s.route(api, del, "/locations/{id}", RoleAdmin, s.deleteLocation)

		s.route(api, get, "/plans", RoleViewer, s.listPlans)
		s.route(api, post, "/plans", RoleOperator, s.createPlan)
		s.route(api, get, "/plans/{id}", RoleViewer, s.getPlan)
		s.route(api, put, "/plans/{id}", RoleOperator, s.updatePlan)
		s.route(api, del, "/plans/{id}", RoleAdmin, s.deletePlan)

		s.route(api, get, "/customers", RoleViewer, s.listCustomers)
		s.route(api, post, "/customers", RoleOperator, s.createCustomer)
		s.route(api, get, "/customers/{id}", RoleViewer, s.getCustomer)
		s.route(api, put, "/customers/{id}", RoleOperator, s.updateCustomer)
		s.route(api, del, "/customers/{id}", RoleOperator, s.deleteCustomer)

		s.route(api, get, "/subscriptions", RoleViewer, s.listSubscriptions)
		s.route(api, post, "/subscriptions", RoleOperator, s.createSubscription)
		s.route(api, get, "/subscriptions/{id}", RoleViewer, s.getSubscription)
		s.route(api, put, "/subscriptions/{id}", RoleOperator, s.updateSubscription)
		s.route(api, del, "/subscriptions/{id}", RoleOperator, s.deleteSubscription)

		s.route(api, get, "/voucher-batches", RoleViewer, s.listVoucherBatches)
		s.route(api, post, "/voucher-batches", RoleOperator, s.createVoucherBatch)
		s.route(api, get, "/voucher-batches/{id}", RoleViewer, s.getVoucherBatch)
		s.route(api, del, "/voucher-batches/{id}", RoleOperator, s.deleteVoucherBatch)
		s.route(api, get, "/voucher-batches/{id}/vouchers", RoleOperator, s.listBatchVouchers)
		// A batch as CSV, codes included (voucher_export.go; issue 13).
		s.route(api, get, "/voucher-batches/{id}/export.csv", RoleOperator, s.exportVoucherBatch)

		s.route(api, get, "/templates", RoleViewer, s.listTemplates)
		s.route(api, post, "/templates", RoleOperator, s.createTemplate)
		s.route(api, get, "/templates/{id}", RoleViewer, s.getTemplate)
		s.route(api, put, "/templates/{id}", RoleOperator, s.updateTemplate)
		s.route(api, del, "/templates/{id}", RoleAdmin, s.deleteTemplate)
		s.route(api, post, "/templates/{id}/preview", RoleViewer, s.previewTemplate)

		s.route(api, get, "/plugin-settings/{plugin}", RoleOperator, s.getPluginSettings)
		s.route(api, put, "/plugin-settings/{plugin}", RoleAdmin, s.putPluginSettings)
	}

	if s.deps.Billing != nil {
		// What reaches billing from outside, beside the API: the gateways'
		// notifications, which their plugins check (webhooks.go), and the
		// customer's pay page, whose link carries a digest (paypage.go).
		s.route(r, post, "/webhooks/{plugin}", rolePublic, s.webhook)
		s.route(r, get, "/webhooks/{plugin}", rolePublic, s.webhook)
		s.route(r, put, "/webhooks/{plugin}", rolePublic, s.webhook)
		s.route(r, get, "/pay/{number}", rolePublic, s.payPage)
		s.route(r, head, "/pay/{number}", rolePublic, s.payPage)

		// Invoices (invoices.go), redeeming a voucher (vouchers.go), jobs
		// (jobs.go), the audit log (audit.go), the routers' drift
		// (routers.go) and the dashboard's numbers (dashboard.go).
		s.route(api, get, "/invoices", RoleViewer, s.listInvoices)
		s.route(api, post, "/invoices", RoleOperator, s.createInvoice)
		s.route(api, get, "/invoices/{id}", RoleViewer, s.getInvoice)
		s.route(api, post, "/invoices/{id}/pay", RoleOperator, s.payInvoice)
		s.route(api, post, "/invoices/{id}/cancel", RoleOperator, s.cancelInvoice)
		s.route(api, post, "/vouchers/redeem", RoleOperator, s.redeemVoucher)
		s.route(api, get, "/jobs", RoleViewer, s.listJobs)
		s.route(api, get, "/jobs/{id}", RoleViewer, s.getJob)
		s.route(api, post, "/jobs/{id}/retry", RoleAdmin, s.retryJob)
		s.route(api, get, "/audit", RoleAdmin, s.listAudit)
		s.route(api, get, "/audit/export", RoleAdmin, s.exportAudit)
		s.route(api, get, "/audit/checkpoint", RoleAdmin, s.auditCheckpoint)
		s.route(api, get, "/routers/drift", RoleOperator, s.routerDrift)

		// A location's router, live (location_routers.go): the connection
		// test, who is online and ending a session (audited) are for
		// operators, the people at the help desk; setting a router's
		// connection is for admins (POST and PUT /locations refuse a
		// "router" from anyone else).
		s.route(api, post, "/locations/{id}/test", RoleOperator, s.testLocationRouter)
		s.route(api, get, "/locations/{id}/sessions", RoleOperator, s.listLocationSessions)
		s.route(api, post, "/locations/{id}/sessions/{sid}/disconnect", RoleOperator, s.disconnectLocationSession)
		s.route(api, post, "/routers/sync", RoleAdmin, s.repairRouters)
		s.route(api, get, "/dashboard", RoleViewer, s.dashboard)

		// Customer balances (balance.go): anyone signed in reads the
		// ledger; operators add cash, make top-up invoices and pay from
		// the balance; refunds and adjustments need an admin (checked in
		// the handler, as the role depends on the amount).
		s.route(api, get, "/customers/{id}/balance", RoleViewer, s.getCustomerBalance)
		s.route(api, post, "/customers/{id}/balance", RoleOperator, s.postCustomerBalance)
		s.route(api, post, "/customers/{id}/topups", RoleOperator, s.createTopUp)
		s.route(api, post, "/invoices/{id}/pay-from-balance", RoleOperator, s.payInvoiceFromBalance)
	}

	if s.deps.Billing != nil {
		// Reports (reports.go): income, subscribers, expiring; JSON or CSV,
		// for viewers as the dashboard's numbers are.
		s.route(api, get, "/reports/income", RoleViewer, s.incomeReport)
		s.route(api, get, "/reports/subscribers", RoleViewer, s.subscriberReport)
		s.route(api, get, "/reports/expiring", RoleViewer, s.expiringReport)
		// An invoice or receipt as PDF (invoice_pdf.go).
		s.route(api, get, "/invoices/{id}/pdf", RoleViewer, s.invoicePDF)
	}

	// The plugins' routes, /plugins/{plugin}/...: each has the role its
	// plugin's manifest names, matched when a request arrives
	// (plugin_routes.go; PluginPolicies lists them).
	r.PathPrefix(pluginRoutePrefix + "{plugin}").Handler(s.pluginRoutes())

	// Controlling the plugins: anyone signed in sees them; operators
	// restart one; admins disable and enable them (plugins.go).
	s.route(api, get, "/plugins", RoleViewer, s.listPlugins)
	s.route(api, get, "/plugins/{name}", RoleViewer, s.getPlugin)
	s.route(api, get, "/plugins/{name}/history", RoleViewer, s.pluginHistory)
	s.route(api, post, "/plugins/{name}/restart", RoleOperator, s.restartPlugin)
	s.route(api, post, "/plugins/{name}/disable", RoleAdmin, s.disablePlugin)
	s.route(api, post, "/plugins/{name}/enable", RoleAdmin, s.enablePlugin)
	// The hosts sharing the store, and each one's plugins (hosts.go).
	s.route(api, get, "/hosts", RoleViewer, s.listHosts)

	// Installing, upgrading, rolling back and removing plugins on the
	// running host (plugin_install.go): admins act; each action runs in
	// the background, its progress at /plugin-actions/{id}. The
	// marketplace (every source's listings and what is installed) is for
	// anyone signed in.
	if s.deps.Installs != nil {
		s.route(api, post, "/plugins/install", RoleAdmin, s.pluginInstallAction(pluginstall.ActionInstall))
		s.route(api, post, "/plugins/upgrade", RoleAdmin, s.pluginInstallAction(pluginstall.ActionUpgrade))
		s.route(api, post, "/plugins/rollback", RoleAdmin, s.pluginInstallAction(pluginstall.ActionRollback))
		s.route(api, post, "/plugins/remove", RoleAdmin, s.pluginInstallAction(pluginstall.ActionRemove))
		s.route(api, get, "/plugin-actions", RoleAdmin, s.listPluginActions)
		s.route(api, get, "/plugin-actions/{id}", RoleAdmin, s.getPluginAction)
		s.route(api, get, "/marketplace", RoleViewer, s.marketplace)
	}

	// Messaging sessions, the notify plugins' senders (messaging.go):
	// anyone signed in sees them; operators see the codes that link a
	// phone and pair; admins log out.
	s.route(api, get, "/messaging", RoleViewer, s.listMessaging)
	s.route(api, get, "/messaging/{plugin}/sessions/{id}", RoleViewer, s.getMessagingSession)
	s.route(api, post, "/messaging/{plugin}/sessions/{id}/pair", RoleOperator, s.pairMessagingSession)
	s.route(api, post, "/messaging/{plugin}/sessions/{id}/logout", RoleAdmin, s.logoutMessagingSession)

	if s.ui != nil {
		// The admin UI (pages.go, package ui): pages for people, with the
		// API's roles; static files are public. Its plugin actions live
		// under /plugin/, as /plugins/ is the plugins' own.
		s.page(r, get, "/static/{file:.+}", rolePublic, s.ui.Static)
		s.page(r, get, "/signin", rolePublic, s.ui.SignInForm)
		s.page(r, post, "/signin", rolePublic, s.ui.SignIn)
		s.page(r, post, "/signout", rolePublic, s.ui.SignOut)
		s.page(r, post, "/language", rolePublic, s.ui.SetLanguage)
		s.page(r, get, "/", RoleViewer, s.ui.Dashboard)
		s.page(r, get, "/dashboard/plugins", RoleViewer, s.ui.PluginTiles)
		s.page(r, get, "/password", RoleViewer, s.ui.PasswordForm)
		s.page(r, post, "/password", RoleViewer, s.ui.ChangePassword)
		s.page(r, post, "/plugin/{name}/restart", RoleOperator, s.ui.RestartPlugin)
		s.page(r, post, "/plugin/{name}/disable", RoleAdmin, s.ui.DisablePlugin)
		s.page(r, post, "/plugin/{name}/enable", RoleAdmin, s.ui.EnablePlugin)
		if s.deps.Billing != nil {
			// Jobs (ui/jobs.go): the failed ones, retry, counts by state.
			s.page(r, get, "/jobs", RoleViewer, s.ui.JobsPage)
			s.page(r, get, "/jobs/counts", RoleViewer, s.ui.JobCounts)
			s.page(r, post, "/jobs/{id}/retry", RoleAdmin, s.ui.RetryJob)
		}
		if s.deps.Installs != nil {
			// The Marketplace page (ui/marketplace.go): anyone signed in
			// browses; admins act, with the roles of the API's actions.
			s.page(r, get, "/marketplace", RoleViewer, s.ui.MarketplacePage)
			s.page(r, post, "/marketplace/{action}", RoleAdmin, s.ui.MarketplaceAction)
			s.page(r, get, "/marketplace/actions/{id}", RoleAdmin, s.ui.MarketplaceActionStatus)
		}

		// The plugin pages (package ui, plugins.go): the list, a plugin's
		// status, history and manifest, and its settings form, with the
		// roles of GET and PUT /api/v1/plugin-settings/{plugin}.
		s.page(r, get, "/plugin", RoleViewer, s.ui.PluginList)
		s.page(r, get, "/plugin/{name}", RoleViewer, s.ui.PluginPage)
		s.page(r, get, "/plugin/{name}/status", RoleViewer, s.ui.PluginStatus)
		if s.deps.DB != nil {
			s.page(r, get, "/plugin/{name}/settings", RoleOperator, s.ui.PluginSettingsForm)
			s.page(r, post, "/plugin/{name}/settings", RoleAdmin, s.ui.SavePluginSettings)
		}
	}

	if s.ui != nil && s.deps.DB != nil && s.deps.Billing != nil {
		// The admin UI's billing pages (package ui: plans.go,
		// locations.go, customers.go, invoices.go; billing_pages.go): each
		// with its API route's role, forms for operators.
		s.page(r, get, "/plans", RoleViewer, s.ui.Plans)
		s.page(r, get, "/plans/new", RoleOperator, s.ui.NewPlanForm)
		s.page(r, post, "/plans", RoleOperator, s.ui.CreatePlan)
		s.page(r, get, "/plans/{id}/edit", RoleOperator, s.ui.EditPlanForm)
		s.page(r, post, "/plans/{id}", RoleOperator, s.ui.UpdatePlan)
		s.page(r, get, "/locations", RoleViewer, s.ui.Locations)
		s.page(r, post, "/locations", RoleOperator, s.ui.CreateLocation)
		s.page(r, get, "/customers", RoleViewer, s.ui.Customers)
		s.page(r, get, "/customers/new", RoleOperator, s.ui.NewCustomerForm)
		s.page(r, post, "/customers", RoleOperator, s.ui.CreateCustomer)
		s.page(r, get, "/customers/{id}/edit", RoleOperator, s.ui.EditCustomerForm)
		s.page(r, post, "/customers/{id}", RoleOperator, s.ui.UpdateCustomer)
		s.page(r, get, "/invoices", RoleViewer, s.ui.Invoices)
		s.page(r, get, "/invoices/new", RoleOperator, s.ui.NewInvoiceForm)
		s.page(r, post, "/invoices", RoleOperator, s.ui.CreateInvoice)
		s.page(r, get, "/invoices/{id}", RoleViewer, s.ui.Invoice)
		s.page(r, get, "/invoices/{id}/qr.png", RoleViewer, s.ui.InvoiceQR)
		s.page(r, post, "/invoices/{id}/pay", RoleOperator, s.ui.PayInvoice)
		// Balances (ui/balance.go): the ledger, cash entries (refunds and
		// adjustments: admins, checked by the API's rule), paying from it.
		s.page(r, get, "/customers/{id}/balance", RoleViewer, s.ui.CustomerBalance)
		s.page(r, post, "/customers/{id}/balance", RoleOperator, s.ui.AddBalance)
		s.page(r, post, "/invoices/{id}/pay-from-balance", RoleOperator, s.ui.PayInvoiceFromBalance)
		// Top-ups through a gateway (ui/balance.go), as /api/v1/customers/{id}/topups.
		s.page(r, post, "/customers/{id}/topups", RoleOperator, s.ui.TopUpBalance)
	}

	if s.ui != nil && s.deps.DB != nil && s.deps.Billing != nil {
		// The admin UI's voucher pages (package ui: vouchers.go,
		// vouchers_print.go; voucher_pages.go), with the roles of
		// /api/v1/voucher-batches and /vouchers/redeem: the codes, the
		// sheet and its QR codes for operators, as the codes' list is.
		s.page(r, get, "/vouchers", RoleViewer, s.ui.VoucherBatches)
		s.page(r, get, "/vouchers/new", RoleOperator, s.ui.NewVoucherBatchForm)
		s.page(r, post, "/vouchers", RoleOperator, s.ui.CreateVoucherBatch)
		s.page(r, get, "/vouchers/redeem", RoleOperator, s.ui.RedeemVoucherForm)
		s.page(r, post, "/vouchers/redeem", RoleOperator, s.ui.RedeemVoucher)
		s.page(r, get, "/vouchers/{id}", RoleViewer, s.ui.VoucherBatch)
		s.page(r, get, "/vouchers/{id}/delete", RoleOperator, s.ui.DeleteVoucherBatchForm)
		s.page(r, post, "/vouchers/{id}/delete", RoleOperator, s.ui.DeleteVoucherBatch)
		s.page(r, get, "/vouchers/{id}/print", RoleOperator, s.ui.VoucherSheet)
		s.page(r, get, "/vouchers/{id}/codes/{voucher}/qr.png", RoleOperator, s.ui.VoucherQR)
	}

	if s.ui != nil && s.deps.Billing != nil {
		// The admin UI's routers page (package ui: routers.go): the
		// comparison of the store with the routers and its repair, with
		// the roles of GET /routers/drift and POST /routers/sync.
		s.page(r, get, "/routers", RoleOperator, s.ui.Routers)
		s.page(r, post, "/routers/sync", RoleAdmin, s.ui.RepairRouters)
	}
	if s.ui != nil && s.deps.DB != nil && s.deps.Billing != nil {
		// A location's router and who is online (package ui:
		// location_routers.go), with the API's roles: the router's
		// connection (it holds the password) and deleting for admins,
		// the test, the sessions and the disconnect for operators.
		s.page(r, get, "/locations/{id}/edit", RoleAdmin, s.ui.EditLocationForm)
		s.page(r, post, "/locations/{id}", RoleAdmin, s.ui.UpdateLocation)
		s.page(r, post, "/locations/{id}/delete", RoleAdmin, s.ui.DeleteLocation)
		s.page(r, post, "/locations/{id}/test", RoleOperator, s.ui.TestLocationRouter)
		s.page(r, get, "/locations/{id}/sessions", RoleOperator, s.ui.LocationSessions)
		s.page(r, post, "/locations/{id}/sessions/{sid}/disconnect", RoleOperator, s.ui.DisconnectLocationSession)
	}
	if s.ui != nil {
		// The admin UI's messaging page (package ui: messaging.go;
		// messaging.go), with the roles of /api/v1/messaging: the QR image
		// is for operators, as the codes are.
		s.page(r, get, "/messaging", RoleViewer, s.ui.MessagingPage)
		s.page(r, post, "/messaging/{plugin}/pair", RoleOperator, s.ui.PairNewSession)
		s.page(r, get, "/messaging/{plugin}/sessions/{id}", RoleViewer, s.ui.MessagingSession)
		s.page(r, get, "/messaging/{plugin}/sessions/{id}/qr.png", RoleOperator, s.ui.MessagingQR)
		s.page(r, post, "/messaging/{plugin}/sessions/{id}/pair", RoleOperator, s.ui.PairSession)
		s.page(r, post, "/messaging/{plugin}/sessions/{id}/logout", RoleAdmin, s.ui.LogoutSession)
	}
	if s.ui != nil && s.deps.DB != nil && s.deps.Accounts != nil {
		// The admin UI's users and API tokens pages (package ui: users.go;
		// users_pages.go), with the roles of /api/v1/users and /tokens.
		s.page(r, get, "/users", RoleAdmin, s.ui.UsersPage)
		s.page(r, post, "/users", RoleAdmin, s.ui.CreateUser)
		s.page(r, post, "/users/{id}", RoleAdmin, s.ui.UpdateUser)
		s.page(r, get, "/tokens", RoleViewer, s.ui.TokensPage)
		s.page(r, post, "/tokens", RoleViewer, s.ui.CreateToken)
		s.page(r, post, "/tokens/{id}/revoke", RoleViewer, s.ui.RevokeToken)
	}

	if s.ui != nil && s.deps.Billing != nil {
		// The admin UI's reports page (package ui: reports.go), with the
		// role of GET /api/v1/reports/..., whose services it calls.
		s.page(r, get, "/reports", RoleViewer, s.ui.Reports)
	}

	if s.ui != nil && s.deps.Billing != nil {
		// The admin UI's audit page (package ui: audit.go), with the role
		// of GET /api/v1/audit, whose search it uses.
		s.page(r, get, "/audit", RoleAdmin, s.ui.AuditPage)
	}

	if s.ui != nil && s.deps.DB != nil && s.deps.Billing != nil {
		// The customer portal (portal.go; package ui, portal.go): its own
		// session cookie and sign-in (router login, or a code sent to the
		// phone), the customer's subscription, invoices and purchases.
		s.portalPage(r, get, "/portal/signin", rolePublic, s.ui.PortalSignInForm)
		s.portalPage(r, post, "/portal/signin", rolePublic, s.ui.PortalSignIn)
		s.portalPage(r, post, "/portal/code", rolePublic, s.ui.PortalSendCode)
		s.portalPage(r, post, "/portal/code/check", rolePublic, s.ui.PortalCheckCode)
		s.portalPage(r, post, "/portal/signout", rolePublic, s.ui.PortalSignOut)
		s.portalPage(r, get, "/portal", roleCustomer, s.ui.PortalHome)
		s.portalPage(r, post, "/portal/buy", roleCustomer, s.ui.PortalBuy)
		s.portalPage(r, get, "/portal/invoices/{id}/pdf", roleCustomer, s.ui.PortalInvoicePDF)
	}

	// Everything else.
	r.NotFoundHandler = s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{http.StatusNotFound, "not_found", "no such route; see /health, /ready and /metrics", nil}
	})
	r.MethodNotAllowedHandler = s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route", nil}
	})
	// gorilla/mux 1.8 loses a subrouter's method mismatch and reports it as
	// not found; ask the subrouter which methods the path has instead.
	api.NotFoundHandler = s.handle(func(w http.ResponseWriter, req *http.Request) error {
		if allow := allowedMethods(api, req); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on this route; use %s", req.Method, strings.Join(allow, " or ")), nil}
		}
		return &apiError{http.StatusNotFound, "not_found", "no such API route; docs/api.md lists them", nil}
	})
	return r
}

// rolePublic is the role of a route that needs no credentials.
const rolePublic = ""

// route installs h at method and path on r, for callers with at least role
// (RoleViewer, RoleOperator or RoleAdmin; rolePublic for anyone), and
// records the role for Policies.
func (s *Server) route(r *mux.Router, method, path, role string, h func(http.ResponseWriter, *http.Request) error) {
	if role != rolePublic {
		h = requireRole(role, h)
	}
	rt := r.Handle(path, s.handle(h)).Methods(method)
	s.policy.set(method, routeTemplate(rt, path), role)
}

// handle adapts an error-returning handler.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.serveError(w, r, err)
		}
	})
}

// serveWith adapts a plain http.Handler (one that answers its own errors)
// to route.
func serveWith(h http.Handler) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}
}

// allowedMethods lists the methods router has a route for at req's path.
func allowedMethods(router *mux.Router, req *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == req.Method {
			continue
		}
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	return allow
}

// policy records the role each route needs, as router installs it: for the
// route-by-role tests, and for authenticate, which lets refused
// credentials through on public routes.
type policy struct {
	mu    sync.Mutex
	roles map[string]string // "METHOD /path/template" -> role (rolePublic: "")
	pages map[string]bool   // the keys of the UI's pages
}

func (p *policy) set(method, path, role string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.roles == nil {
		p.roles = map[string]string{}
	}
	p.roles[method+" "+path] = role
}

// setPage marks a route as a UI page (HTML answers, sign-in redirects).
func (p *policy) setPage(method, path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pages == nil {
		p.pages = map[string]bool{}
	}
	p.pages[method+" "+path] = true
}

// isPage reports whether "METHOD /path/template" is a UI page.
func (p *policy) isPage(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pages[key]
}

// role returns the role recorded for method and path, and whether one is.
func (p *policy) role(method, path string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	role, ok := p.roles[method+" "+path]
	return role, ok
}

// Policies returns "METHOD /path/template" -> the role it needs for every
// route router installs (an empty role: public). The plugins' routes are
// in PluginPolicies.
func (s *Server) Policies() map[string]string {
	s.policy.mu.Lock()
	defer s.policy.mu.Unlock()
	return maps.Clone(s.policy.roles)
}

// PolicyKeys returns the policy's keys, sorted.
func PolicyKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// routeTemplate is the full path template of an installed route. (Asking a
// router for r.Path(path) instead would add a route without a handler that
// shadows the real one.)
func routeTemplate(rt *mux.Route, path string) string {
	if tmpl, err := rt.GetPathTemplate(); err == nil {
		return tmpl
	}
	return path
}
