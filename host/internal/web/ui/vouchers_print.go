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
	Cards []printCard
	// Operator is the operator's name on every card ("" when unset).
	Operator string
	// NoLoginURL says a hotspot batch's QR codes carry the code alone,
	// hotspot.login_url being unset.
	NoLoginURL bool
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
	d.Operator, d.To = u.deps.Vouchers.Operator(), d.From+len(codes)-1
	for _, c := range codes {
		card := printCard{Voucher: c}
		if b.Hotspot() {
			card.Link = u.deps.Vouchers.LoginURL(b.Location, c.Code)
			d.NoLoginURL = card.Link == ""
		}
		d.Cards = append(d.Cards, card)
	}
	return u.renderPart(w, r, http.StatusOK, "vouchers_print.html", "sheet", view{Title: "vouchers.print_title", Data: d})
}

// printCard is one card: a voucher, and for a hotspot login the address
// its QR code opens (the login page with the code filled in).
type printCard struct {
	store.Voucher
	Link string
}

// VoucherQR serves GET /vouchers/{id}/codes/{voucher}/qr.png: a voucher's
// code as a QR code (PNG), for the sheet's cards; for a hotspot login, the
// address that logs in with it when hotspot.login_url is set.
func (u *UI) VoucherQR(w http.ResponseWriter, r *http.Request) error {
	b, err := u.batch(w, r)
	if b == nil {
		return err
	}
	batchID := b.ID
	id, ok := idVar(r, "voucher")
	if !ok {
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
	if b.Hotspot() {
		if link := u.deps.Vouchers.LoginURL(b.Location, v.Code); link != "" {
			return writeQR(w, link)
		}
	}
	return writeQR(w, v.Code)
}
