package billing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// The pay page (GET /pay/{number}) shows a customer what an invoice asks
// and how to pay it. Invoice numbers are sequential, so the link carries a
// keyed digest of the number (k=...): only someone who was sent the link
// sees the page.

// ErrBadPayLink is a pay link whose digest does not match its invoice.
var ErrBadPayLink = errors.New("this payment link is not valid; ask your provider for a new one")

// payLinkQuery is the query parameter with the digest.
const payLinkQuery = "k"

// linkToken is the digest of an invoice number under the link key.
func (s *Service) linkToken(number string) string {
	mac := hmac.New(sha256.New, s.cfg.LinkKey)
	mac.Write([]byte("mikrobill pay link v1\x00" + number))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// PayLink is the pay page's address for an invoice.
func (s *Service) PayLink(number string) string {
	return strings.TrimRight(s.cfg.PublicURL, "/") + s.PayPath(number)
}

// PayPath is PayLink without the host's address: for pages served by the
// host itself (the customer portal), which link on the address the
// customer is using.
func (s *Service) PayPath(number string) string {
	return "/pay/" + url.PathEscape(number) + "?" + payLinkQuery + "=" + s.linkToken(number)
}

// PayView is what the pay page shows.
type PayView struct {
	Invoice *store.Invoice
	// Plan is the plan's name.
	Plan string
	// Payment is the gateway's view of the latest pending payment (nil when
	// none, or when the gateway could not be asked).
	Payment *payment.Payment
	// Unavailable says the gateway could not be asked just now.
	Unavailable bool
}

// PayPage loads what the pay page shows for an invoice, after checking the
// link's digest. The invoice and its payments are read in one snapshot
// (store.ReadTx), so an invoice paid meanwhile shows paid, not unpaid
// without its payment. A pending payment's details (checkout link, code,
// instructions) come from its gateway, asked afterwards with a short
// timeout.
func (s *Service) PayPage(ctx context.Context, number, token string) (*PayView, error) {
	if !hmac.Equal([]byte(token), []byte(s.linkToken(number))) {
		return nil, ErrBadPayLink
	}
	var v *PayView
	var latest *store.Payment
	err := s.st.ReadTx(ctx, func(q *store.Queries) error {
		inv, err := q.GetInvoiceByNumber(ctx, number)
		if err != nil {
			return err
		}
		v = &PayView{Invoice: inv}
		if plan, err := q.GetPlan(ctx, inv.PlanID); err == nil {
			v.Plan = plan.Name
		}
		if inv.Status != store.InvoiceUnpaid {
			return nil
		}
		payments, err := q.ListPayments(ctx, inv.ID)
		if err != nil {
			return err
		}
		for i := range payments {
			if p := &payments[i]; p.Status == store.PaymentPending && (latest == nil || p.ID > latest.ID) {
				latest = p
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if latest == nil {
		return v, nil
	}
	inv := v.Invoice
	gw, err := s.plugins.Payment(latest.Gateway)
	if err != nil {
		v.Unavailable = true
		return v, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := gw.GetPayment(cctx, &payment.GetPaymentRequest{ID: latest.ExternalID, OrderID: inv.Number})
	if err != nil {
		s.log.Warn("pay page: the gateway did not answer", "gateway", latest.Gateway, "invoice", inv.Number, "error", err)
		v.Unavailable = true
		return v, nil
	}
	p := resp.Payment
	v.Payment = &p
	return v, nil
}
