package ui

// The printable sheet of a batch's unused vouchers: cards for A4 paper
// (static/vouchers-print.css), each with the location and plan, the price,
// the validity, the code and its QR code, and a print button
// (static/vouchers-print.js). A batch larger than a sheet prints in parts.

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// printLimit is how many cards one part of a sheet holds: ten A4 pages of
// 21 cards.
const printLimit = 210

// printData is the sheet's.
type printData struct {
	Batch batchRow
	Codes []store.Voucher
	// From and To number the part's first and last cards; Next links to
	// the next part ("" on the last).
	From, To int
	Next     string
}

// VoucherSheet serves GET /vouchers/{id}/print: the batch's unused
// vouchers as cards, from ?after= (the previous part's last voucher id;
// ?from= numbers its first card).
func (u *UI) VoucherSheet(w http.ResponseWriter, r *http.Request) error {
	b, err := u.batch(w, r)
	if b == nil {
		return err
	}
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	from, _ := strconv.Atoi(q.Get("from"))
	d := printData{Batch: *b, From: max(from, 1)}
	codes, err := u.deps.Vouchers.Codes(r.Context(), b.ID, store.VoucherFilter{Unused: true}, after, printLimit+1)
	if err != nil {
		return err
	}
	if len(codes) > printLimit {
		codes = codes[:printLimit]
		d.Next = "/vouchers/" + strconv.FormatInt(b.ID, 10) + "/print?" + url.Values{
			"after": {strconv.FormatInt(codes[printLimit-1].ID, 10)}, "from": {strconv.Itoa(d.From + printLimit)}}.Encode()
	}
	d.Codes, d.To = codes, d.From+len(codes)-1
	return u.renderPart(w, r, http.StatusOK, "vouchers_print.html", "sheet", view{Title: "vouchers.print_title", Data: d})
}

// VoucherQR serves GET /vouchers/{id}/codes/{voucher}/qr.png: a voucher's
// code as a QR code (PNG), for the sheet's cards.
func (u *UI) VoucherQR(w http.ResponseWriter, r *http.Request) error {
	batchID, ok1 := idVar(r, "id")
	id, ok2 := idVar(r, "voucher")
	if !ok1 || !ok2 {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	v, err := u.deps.Vouchers.Code(r.Context(), batchID, id)
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	if err != nil {
		return err
	}
	return writeQR(w, v.Code)
}
