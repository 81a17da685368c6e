package ui

// Invoices: the list (newest first, by status, paged by keyset), the form
// that bills a customer for a plan, and the invoice's page, which starts
// paying it at a running payment plugin and shows the pay link with its
// QR code for the customer to scan (the API's /invoices rules, through
// Billing).

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk"
)

// invoiceStatuses are the statuses the list filters by.
var invoiceStatuses = []string{store.InvoiceUnpaid, store.InvoicePaid, store.InvoiceFailed, store.InvoiceExpired, store.InvoiceCancelled}

// invoicesData is the invoice list's.
type invoicesData struct {
	Status   string
	Statuses []string
	Invoices []store.Invoice
	// Next is the link to the next page ("" on the last); First is set
	// when this is not the first page.
	Next, First string
}

// Invoices serves GET /invoices: ?status= filters, ?before= is the
// previous page's last invoice id.
func (u *UI) Invoices(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := invoicesData{Status: q.Get("status"), Statuses: invoiceStatuses}
	if d.Status != "" && !slices.Contains(invoiceStatuses, d.Status) {
		d.Status = ""
	}
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	list, err := u.deps.Billing.Invoices(r.Context(), store.InvoiceFilter{Status: d.Status}, before, listLimit+1)
	if err != nil {
		return err
	}
	if len(list) > listLimit {
		list = list[:listLimit]
		d.Next = "/invoices?" + url.Values{"status": {d.Status}, "before": {strconv.FormatInt(list[listLimit-1].ID, 10)}}.Encode()
	}
	if before > 0 {
		d.First = "/invoices?" + url.Values{"status": {d.Status}}.Encode()
	}
	d.Invoices = list
	return u.render(w, r, http.StatusOK, "invoices.html", view{Title: "invoices.title", Data: d})
}

// invoiceForm is the new invoice form's: for one customer, a plan.
type invoiceForm struct {
	Customer *store.Customer
	Plans    []store.Plan
	PlanID   int64
	// NewSubscription: paying starts a parallel subscription instead of
	// renewing the customer's on the plan.
	NewSubscription bool
	Errs            fieldErrors
}

// NewInvoiceForm serves GET /invoices/new?customer=ID (the customer list
// links here); without a customer it says to choose one.
func (u *UI) NewInvoiceForm(w http.ResponseWriter, r *http.Request) error {
	id, _ := strconv.ParseInt(r.URL.Query().Get("customer"), 10, 64)
	return u.invoiceFormPage(w, r, http.StatusOK, id, &invoiceForm{Errs: fieldErrors{}})
}

func (u *UI) invoiceFormPage(w http.ResponseWriter, r *http.Request, status int, customerID int64, f *invoiceForm) error {
	if customerID > 0 {
		c, err := u.deps.Billing.Customer(r.Context(), customerID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		f.Customer = c
	}
	plans, err := u.deps.Billing.Plans(r.Context())
	if err != nil {
		return err
	}
	for _, p := range plans {
		if p.Active {
			f.Plans = append(f.Plans, p)
		}
	}
	v := view{Title: "invoices.new", Data: f}
	if len(f.Errs) > 0 {
		v.Problem = "form.refused"
	}
	return u.render(w, r, status, "invoice_form.html", v)
}

// CreateInvoice serves POST /invoices.
func (u *UI) CreateInvoice(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "invoices")
	customerID, planID := f.int64("customer_id", 0), f.int64("plan_id", 0)
	newSubscription := f.str("new_subscription") == "on"
	var inv *store.Invoice
	var err error
	if len(f.errs) == 0 {
		inv, err = u.deps.Billing.CreateInvoice(r, customerID, planID, 0, newSubscription)
	}
	errs, ok := refused(err, "invoices")
	if !ok && errors.Is(err, sdk.ErrFailedPrecondition) { // the plan is not active or has no price
		errs, ok = fieldErrors{"plan_id": "invoices.err.plan_id"}, true
	}
	if ok || len(f.errs) > 0 {
		for k, v := range errs {
			f.errs[k] = v
		}
		return u.invoiceFormPage(w, r, http.StatusUnprocessableEntity, customerID, &invoiceForm{PlanID: planID, NewSubscription: newSubscription, Errs: f.errs})
	}
	if err != nil {
		return err
	}
	u.log.Info("invoice created", "invoice", inv.Number, "user", userFrom(r).Username)
	redirect(w, r, "/invoices/"+strconv.FormatInt(inv.ID, 10)+"?done=created")
	return nil
}

// invoiceData is the invoice page's.
type invoiceData struct {
	Invoice  *store.Invoice
	Customer *store.Customer
	Payments []store.Payment
	// Gateways are the running payment plugins to pay with.
	Gateways []string
	// Payable: the invoice may be paid (unpaid, failed or expired).
	Payable bool
	// Balance is the customer's balance in the invoice's currency.
	Balance int64
	Errs    fieldErrors
}

// invoiceNotices are the notices of what was just done, by ?done=.
var invoiceNotices = map[string]string{"created": "invoices.created", "paying": "invoices.paying", "paid_from_balance": "balance.paid_invoice"}

// Invoice serves GET /invoices/{id}.
func (u *UI) Invoice(w http.ResponseWriter, r *http.Request) error {
	v := view{}
	if key, ok := invoiceNotices[r.URL.Query().Get("done")]; ok {
		v.Notice = key
	}
	return u.invoicePage(w, r, http.StatusOK, v, nil)
}

func (u *UI) invoicePage(w http.ResponseWriter, r *http.Request, status int, v view, errs fieldErrors) error {
	inv, payments, err := u.invoice(w, r)
	if inv == nil {
		return err
	}
	d := invoiceData{Invoice: inv, Payments: payments, Gateways: u.gateways(), Errs: errs,
		Payable: inv.Status == store.InvoiceUnpaid || inv.Status == store.InvoiceFailed || inv.Status == store.InvoiceExpired}
	if d.Customer, err = u.deps.Billing.Customer(r.Context(), inv.CustomerID); err != nil {
		return err
	}
	if d.Balance, err = u.invoiceBalance(r, inv); err != nil {
		return err
	}
	v.Title, v.Data = "invoices.detail", d
	v.NoticeArg = inv.Number
	return u.render(w, r, status, "invoice.html", v)
}

// invoice reads the invoice of the path's id; nil when the answer is
// given.
func (u *UI) invoice(w http.ResponseWriter, r *http.Request) (*store.Invoice, []store.Payment, error) {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil, nil
	}
	inv, payments, err := u.deps.Billing.Invoice(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil, nil
	}
	return inv, payments, err
}

// gateways are the names of the running payment plugins.
func (u *UI) gateways() []string {
	if u.deps.Plugins == nil {
		return nil
	}
	var out []string
	for _, st := range u.deps.Plugins.Statuses() {
		if st.Kind == "payment" && st.State == plugins.StateRunning {
			out = append(out, st.Name)
		}
	}
	return out
}

// PayInvoice serves POST /invoices/{id}/pay: the chosen gateway starts
// the payment, and the invoice page shows its link and QR code.
func (u *UI) PayInvoice(w http.ResponseWriter, r *http.Request) error {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	gateway := r.PostFormValue("gateway")
	_, err := u.deps.Billing.PayInvoice(r, id, gateway)
	errs, refusedFields := refused(err, "invoices")
	switch {
	case refusedFields:
		return u.invoicePage(w, r, http.StatusUnprocessableEntity, view{Problem: "form.refused"}, errs)
	case errors.Is(err, billing.ErrAlreadyPaid):
		return u.invoicePage(w, r, http.StatusConflict, view{Problem: "invoices.already_paid"}, nil)
	case errors.Is(err, billing.ErrNotPayable):
		return u.invoicePage(w, r, http.StatusConflict, view{Problem: "invoices.not_payable"}, nil)
	case err != nil:
		return err
	}
	u.log.Info("invoice payment started", "invoice", id, "gateway", gateway, "user", userFrom(r).Username)
	redirect(w, r, "/invoices/"+strconv.FormatInt(id, 10)+"?done=paying")
	return nil
}

// qrSize is the QR image's side in pixels: large enough to scan from a
// phone's screen.
const qrSize = 256

// InvoiceQR serves GET /invoices/{id}/qr.png: the invoice's pay link as a
// QR code (PNG), for the customer to scan.
func (u *UI) InvoiceQR(w http.ResponseWriter, r *http.Request) error {
	inv, _, err := u.invoice(w, r)
	if inv == nil {
		return err
	}
	if inv.PaymentURL == "" {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	return writeQR(w, inv.PaymentURL)
}

// writeQR answers with content as a QR code (PNG, qrSize pixels wide). The
// images carry pay links and voucher codes: never kept by a cache.
func writeQR(w http.ResponseWriter, content string) error {
	png, err := qrcode.Encode(content, qrcode.Medium, qrSize)
	if err != nil {
		return err
	}
	writePNG(w, png)
	return nil
}
