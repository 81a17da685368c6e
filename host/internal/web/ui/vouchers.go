package ui

// Vouchers: the batches (newest first, paged by keyset), the form that
// generates one, a batch's page with its codes (for operators: codes are
// bearer credentials, as the API's GET /voucher-batches/{id}/vouchers
// says), deleting a batch after a confirmation, and redeeming a code for a
// customer, with the API's rules through Vouchers. The printable sheet is
// in vouchers_print.go.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

func init() {
	pageFiles = append(pageFiles, "vouchers.html", "voucher_form.html", "voucher_batch.html", "voucher_delete.html",
		"voucher_redeem.html", "vouchers_print.html")
}

// Vouchers is what the voucher pages ask of the host: the functions of the
// API's /voucher-batches and /vouchers/redeem handlers, so the pages are
// validated and audited as the API is. A refused field comes back as
// *Invalid, the deletion of a batch with redeemed vouchers as
// ErrBatchUsed.
type Vouchers interface {
	// Batches is a keyset page of batches, newest first, below before (0:
	// from the newest).
	Batches(ctx context.Context, before int64, limit int) ([]store.VoucherBatch, error)
	Batch(ctx context.Context, id int64) (*store.VoucherBatch, error)
	// Codes is a keyset page of a batch's vouchers in creation order,
	// after the voucher id after.
	Codes(ctx context.Context, batchID int64, f store.VoucherFilter, after int64, limit int) ([]store.Voucher, error)
	// Code is one voucher of a batch (store.ErrNotFound when the batch
	// has no voucher with that id).
	Code(ctx context.Context, batchID, id int64) (*store.Voucher, error)
	// CreateBatch makes count vouchers for b's plan and location with b's
	// prefix and note, and sets b's ID.
	CreateBatch(r *http.Request, b *store.VoucherBatch, count int) error
	DeleteBatch(r *http.Request, id int64) error
	// Redeem redeems a voucher's code for a customer: its invoice is paid
	// and the subscription starts or is extended.
	Redeem(r *http.Request, code string, customerID int64) (*billing.Redemption, error)
	// Operator is the operator's name for the sheets (the setting
	// operator.name; "" when unset).
	Operator() string
	// LoginURL is the address that logs a phone in to the hotspot of a
	// location with a code (billing.HotspotLoginURL of the setting
	// hotspot.login_url; "" when unset).
	LoginURL(location, code string) string
}

// ErrBatchUsed refuses to delete a batch some of whose vouchers were
// redeemed: the batch stays as their record.
var ErrBatchUsed = errors.New("the batch has redeemed vouchers")

// batchRow is a batch with the names of its plan and location.
type batchRow struct {
	store.VoucherBatch
	Plan     *store.Plan
	Location string
}

// Unused is how many of its vouchers are left.
func (b batchRow) Unused() int { return b.Size - b.Redeemed }

// batchRows names each batch's plan and location.
func (u *UI) batchRows(ctx context.Context, batches ...store.VoucherBatch) ([]batchRow, error) {
	plans, err := u.deps.Billing.Plans(ctx)
	if err != nil {
		return nil, err
	}
	locs, err := u.deps.Billing.Locations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]batchRow, len(batches))
	for i, b := range batches {
		out[i].VoucherBatch = b
		for j := range plans {
			if plans[j].ID == b.PlanID {
				out[i].Plan = &plans[j]
			}
		}
		for _, l := range locs {
			if l.ID == b.LocationID {
				out[i].Location = l.Name
			}
		}
		if out[i].Plan == nil { // plans a batch uses cannot be deleted; a row still renders
			out[i].Plan = &store.Plan{ID: b.PlanID}
		}
	}
	return out, nil
}

// vouchersData is the batch list's.
type vouchersData struct {
	Batches []batchRow
	pageLinks
}

// VoucherBatches serves GET /vouchers: ?before= is the previous page's
// last batch id.
func (u *UI) VoucherBatches(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	list, err := u.deps.Vouchers.Batches(r.Context(), before, listLimit+1)
	if err != nil {
		return err
	}
	var d vouchersData
	if len(list) > listLimit {
		list = list[:listLimit]
		d.Next = "/vouchers?" + url.Values{"before": {strconv.FormatInt(list[listLimit-1].ID, 10)}}.Encode()
	}
	if before > 0 {
		d.First = "/vouchers"
	}
	if d.Batches, err = u.batchRows(r.Context(), list...); err != nil {
		return err
	}
	v := view{Title: "vouchers.title", Data: d}
	if q.Get("done") == "deleted" {
		v.Notice, v.NoticeArg = "vouchers.deleted", q.Get("batch")
	}
	return u.render(w, r, http.StatusOK, "vouchers.html", v)
}

// batchForm is the generate form's: the batch as typed, and what is wrong.
type batchForm struct {
	PlanID, LocationID int64
	Count              string
	Prefix, Note, Kind string
	Plans              []store.Plan
	Locations          []store.Location
	// MaxCount and MaxPrefix are the store's limits, for the hints.
	MaxCount, MaxPrefix int
	Errs                fieldErrors
}

// NewVoucherBatchForm serves GET /vouchers/new.
func (u *UI) NewVoucherBatchForm(w http.ResponseWriter, r *http.Request) error {
	return u.batchFormPage(w, r, http.StatusOK, &batchForm{Count: "10", Errs: fieldErrors{}})
}

func (u *UI) batchFormPage(w http.ResponseWriter, r *http.Request, status int, f *batchForm) error {
	var err error
	if f.Plans, err = u.deps.Billing.Plans(r.Context()); err != nil {
		return err
	}
	if f.Locations, err = u.deps.Billing.Locations(r.Context()); err != nil {
		return err
	}
	f.MaxCount, f.MaxPrefix = store.MaxVoucherBatch, store.MaxVoucherPrefix
	v := view{Title: "vouchers.new", Data: f}
	if len(f.Errs) > 0 {
		v.Problem = "form.refused"
	}
	return u.render(w, r, status, "voucher_form.html", v)
}

// CreateVoucherBatch serves POST /vouchers.
func (u *UI) CreateVoucherBatch(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "vouchers")
	b := &store.VoucherBatch{PlanID: f.int64("plan_id", 0), LocationID: f.int64("location_id", 0), Prefix: f.str("prefix"), Note: f.str("note"), Kind: f.str("kind")}
	count := f.int64("count", 0)
	var err error
	if len(f.errs) == 0 {
		err = u.deps.Vouchers.CreateBatch(r, b, int(count))
	}
	if f.refusedBy(err) {
		if _, ok := f.errs["plan_id"]; ok && b.Kind == store.BatchHotspot && b.PlanID > 0 {
			f.errs["plan_id"] = "hotspot.err.plan_kind"
		}
		return u.batchFormPage(w, r, http.StatusUnprocessableEntity, &batchForm{PlanID: b.PlanID, LocationID: b.LocationID,
			Count: f.str("count"), Prefix: b.Prefix, Note: b.Note, Kind: b.Kind, Errs: f.errs})
	}
	if err != nil {
		return err
	}
	u.log.Info("voucher batch generated", "batch", b.ID, "count", count, "user", userFrom(r).Username)
	redirect(w, r, "/vouchers/"+strconv.FormatInt(b.ID, 10)+"?done=created")
	return nil
}

// batchData is a batch's page's.
type batchData struct {
	Batch batchRow
	// Codes are a page of its vouchers (for operators only), with the
	// links to the next page and the first.
	Codes []store.Voucher
	Pages pageLinks
}

// pageLinks are a keyset list's links (the "pager" template, form.html):
// Next to the next page ("" on the last), First when this is not the
// first.
type pageLinks struct{ First, Next string }

// VoucherBatch serves GET /vouchers/{id}: the batch, and for operators its
// codes (?after= is the previous page's last voucher id).
func (u *UI) VoucherBatch(w http.ResponseWriter, r *http.Request) error {
	v := view{}
	if r.URL.Query().Get("done") == "created" {
		v.Notice = "vouchers.generated"
	}
	return u.batchPage(w, r, http.StatusOK, v)
}

func (u *UI) batchPage(w http.ResponseWriter, r *http.Request, status int, v view) error {
	b, err := u.batch(w, r)
	if b == nil {
		return err
	}
	d := batchData{Batch: *b}
	if userFrom(r).Can("operator") {
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		codes, err := u.deps.Vouchers.Codes(r.Context(), b.ID, store.VoucherFilter{}, after, listLimit+1)
		if err != nil {
			return err
		}
		self := "/vouchers/" + strconv.FormatInt(b.ID, 10)
		if len(codes) > listLimit {
			codes = codes[:listLimit]
			d.Pages.Next = self + "?" + url.Values{"after": {strconv.FormatInt(codes[listLimit-1].ID, 10)}}.Encode()
		}
		if after > 0 {
			d.Pages.First = self
		}
		d.Codes = codes
	}
	v.Title, v.Data, v.NoticeArg = "vouchers.batch", d, b.ID
	return u.render(w, r, status, "voucher_batch.html", v)
}

// batch reads the batch of the path's id with its names; nil when the
// answer is given.
func (u *UI) batch(w http.ResponseWriter, r *http.Request) (*batchRow, error) {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil
	}
	b, err := u.deps.Vouchers.Batch(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := u.batchRows(r.Context(), *b)
	if err != nil {
		return nil, err
	}
	return &rows[0], nil
}

// DeleteVoucherBatchForm serves GET /vouchers/{id}/delete: what deleting
// the batch removes, and the button that does it (none when some of its
// vouchers were redeemed: the batch stays as their record).
func (u *UI) DeleteVoucherBatchForm(w http.ResponseWriter, r *http.Request) error {
	b, err := u.batch(w, r)
	if b == nil {
		return err
	}
	v := view{Title: "vouchers.delete_title", Data: b}
	if b.Redeemed > 0 {
		v.Problem = "vouchers.in_use"
	}
	return u.render(w, r, http.StatusOK, "voucher_delete.html", v)
}

// DeleteVoucherBatch serves POST /vouchers/{id}/delete.
func (u *UI) DeleteVoucherBatch(w http.ResponseWriter, r *http.Request) error {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	err := u.deps.Vouchers.DeleteBatch(r, id)
	switch {
	case errors.Is(err, ErrBatchUsed):
		return u.batchPage(w, r, http.StatusConflict, view{Problem: "vouchers.in_use"})
	case errors.Is(err, store.ErrNotFound):
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	case err != nil:
		return err
	}
	u.log.Info("voucher batch deleted", "batch", id, "user", userFrom(r).Username)
	redirect(w, r, "/vouchers?"+url.Values{"done": {"deleted"}, "batch": {strconv.FormatInt(id, 10)}}.Encode())
	return nil
}

// redeemForm is the redeem form's: for one customer, a code.
type redeemForm struct {
	Customer *store.Customer
	Code     string
	Errs     fieldErrors
}

// RedeemVoucherForm serves GET /vouchers/redeem?customer=ID (the customer
// list links here); without a customer it says to choose one.
// ?redeemed= is the number of the invoice a redemption just paid.
func (u *UI) RedeemVoucherForm(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := view{}
	if q.Has("redeemed") {
		v.Notice, v.NoticeArg = "vouchers.redeemed", q.Get("redeemed")
	}
	id, _ := strconv.ParseInt(q.Get("customer"), 10, 64)
	return u.redeemPage(w, r, http.StatusOK, v, id, &redeemForm{Errs: fieldErrors{}})
}

func (u *UI) redeemPage(w http.ResponseWriter, r *http.Request, status int, v view, customerID int64, f *redeemForm) error {
	if customerID > 0 {
		c, err := u.deps.Billing.Customer(r.Context(), customerID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		f.Customer = c
	}
	v.Title, v.Data = "vouchers.redeem", f
	if len(f.Errs) > 0 {
		v.Problem = "form.refused"
	}
	return u.render(w, r, status, "voucher_redeem.html", v)
}

// redeemErrors words the refusals of a code: used, unknown, or for
// another location than the customer's.
var redeemErrors = map[Problem]string{Taken: "vouchers.err.code_used", Missing: "vouchers.err.code_unknown", Wrong: "vouchers.err.code"}

// RedeemVoucher serves POST /vouchers/redeem.
func (u *UI) RedeemVoucher(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "vouchers")
	customerID, code := f.int64("customer_id", 0), f.str("code")
	if code == "" {
		f.errs["code"] = "vouchers.err.code_required"
	}
	var red *billing.Redemption
	var err error
	if len(f.errs) == 0 {
		red, err = u.deps.Vouchers.Redeem(r, code, customerID)
	}
	if f.refusedBy(err) {
		var inv *Invalid
		if errors.As(err, &inv) {
			if p, ok := inv.Fields["code"]; ok {
				f.errs["code"] = redeemErrors[p]
			}
		}
		return u.redeemPage(w, r, http.StatusUnprocessableEntity, view{}, customerID, &redeemForm{Code: code, Errs: f.errs})
	}
	if err != nil {
		return err
	}
	u.log.Info("voucher redeemed", "customer", customerID, "invoice", red.Invoice.Number, "user", userFrom(r).Username)
	redirect(w, r, "/vouchers/redeem?"+url.Values{"customer": {strconv.FormatInt(customerID, 10)}, "redeemed": {red.Invoice.Number}}.Encode())
	return nil
}
