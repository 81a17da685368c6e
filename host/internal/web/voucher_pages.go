package web

// The admin UI's voucher pages (package ui: vouchers.go,
// vouchers_print.go) reach the host through ui.Vouchers, which
// voucherPages implements with the API handlers' own functions
// (vouchers.go): the same validation, the same store calls, the same
// audit events, the same billing service.

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// voucherPages is ui.Vouchers over the server.
type voucherPages struct{ s *Server }

var _ ui.Vouchers = voucherPages{}

func (p voucherPages) Batches(ctx context.Context, before int64, limit int) ([]store.VoucherBatch, error) {
	return p.s.catalogQ().ListVoucherBatchesBefore(ctx, before, limit)
}

func (p voucherPages) Batch(ctx context.Context, id int64) (*store.VoucherBatch, error) {
	return p.s.catalogQ().GetVoucherBatch(ctx, id)
}

func (p voucherPages) Codes(ctx context.Context, batchID int64, f store.VoucherFilter, after int64, limit int) ([]store.Voucher, error) {
	return p.s.catalogQ().ListVouchersAfter(ctx, batchID, f, after, limit)
}

func (p voucherPages) Code(ctx context.Context, batchID, id int64) (*store.Voucher, error) {
	v, err := p.s.catalogQ().GetVoucher(ctx, id)
	if err == nil && v.BatchID != batchID {
		return nil, fmt.Errorf("voucher %d of batch %d: %w", id, batchID, store.ErrNotFound)
	}
	return v, err
}

func (p voucherPages) CreateBatch(r *http.Request, b *store.VoucherBatch, count int) error {
	made, _, err := p.s.newVoucherBatch(r, &voucherBatchInput{PlanID: b.PlanID, LocationID: b.LocationID, Count: count, Prefix: b.Prefix, Note: b.Note, Kind: b.Kind})
	if err != nil {
		return pageRefusal(err)
	}
	*b = *made
	return nil
}

func (p voucherPages) DeleteBatch(r *http.Request, id int64) error {
	err := p.s.dropVoucherBatch(r, id)
	if errors.Is(err, errBatchUsed) {
		return ui.ErrBatchUsed
	}
	return err
}

func (p voucherPages) Redeem(r *http.Request, code string, customerID int64) (*billing.Redemption, error) {
	red, err := p.s.redeem(r, redeemBody{Code: code, CustomerID: customerID})
	return red, pageRefusal(err)
}

func (p voucherPages) Operator() string { return p.s.operatorName() }

func (p voucherPages) LoginURL(location, code string) string {
	return billing.HotspotLoginURL(p.s.hotspotLoginPage(), location, code)
}
