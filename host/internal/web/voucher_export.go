package web

// GET /api/v1/voucher-batches/{id}/export.csv: a batch's vouchers as CSV,
// for operators (the codes are bearer credentials, as the codes list is),
// with the batch's plan, price and validity on every line and, for a
// hotspot batch, each login's state and its QR code's login address. The
// batch's page links here. Each export is audited (never the codes).

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// voucherCSVHeader names the columns of a batch's export.
var voucherCSVHeader = []string{"batch_id", "kind", "code", "location", "plan", "price", "currency", "validity_seconds",
	"state", "redeemed_at", "first_login_at", "expires_at", "login_url"}

// hotspotLoginPage is the setting hotspot.login_url ("" without a
// configuration).
func (s *Server) hotspotLoginPage() string {
	if s.deps.Config == nil {
		return ""
	}
	return s.deps.Config.Hotspot.LoginURL
}

// operatorName is the setting operator.name.
func (s *Server) operatorName() string {
	if s.deps.Config == nil {
		return ""
	}
	return s.deps.Config.Operator.Name
}

func (s *Server) exportVoucherBatch(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	q := s.catalogQ()
	ctx := r.Context()
	b, err := q.GetVoucherBatch(ctx, id)
	if err != nil {
		return err
	}
	plan, err := q.GetPlan(ctx, b.PlanID)
	if err != nil {
		return err
	}
	loc, err := q.GetLocation(ctx, b.LocationID)
	if err != nil {
		return err
	}
	s.audit(r, event("voucher_batch.exported", "voucher_batch", b.ID, map[string]string{"format": "csv", "size": strconv.Itoa(b.Size)}))
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="voucher-batch-%d.csv"`, b.ID))
	bw := bufio.NewWriterSize(w, 32<<10)
	cw := csv.NewWriter(bw)
	_ = cw.Write(voucherCSVHeader)
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	page := s.hotspotLoginPage()
	for after := int64(0); ; {
		vs, err := q.ListVouchersAfter(ctx, b.ID, store.VoucherFilter{}, after, store.MaxLimit)
		if err != nil {
			s.log.Error("voucher export cut short", "batch", b.ID, "error", err)
			panic(http.ErrAbortHandler) // the download fails rather than look complete
		}
		for _, v := range vs {
			state, link := v.LoginState, ""
			if b.Hotspot() {
				link = billing.HotspotLoginURL(page, loc.Name, v.Code)
			} else if !v.RedeemedAt.IsZero() {
				state = "redeemed"
			} else {
				state = "unused"
			}
			_ = cw.Write([]string{strconv.FormatInt(b.ID, 10), b.Kind, v.Code, csvCell(loc.Name), csvCell(plan.Name),
				strconv.FormatInt(plan.Price, 10), plan.Currency, strconv.FormatInt(int64(plan.Validity/time.Second), 10),
				state, when(v.RedeemedAt), when(v.FirstLoginAt), when(v.ExpiresAt), csvCell(link)})
		}
		if len(vs) < store.MaxLimit {
			break
		}
		after = vs[len(vs)-1].ID
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
