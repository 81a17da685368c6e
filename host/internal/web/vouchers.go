package web

// Voucher batches, their vouchers, and redeeming a voucher for a customer.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// voucherBatchInput asks for a batch of Count vouchers.
type voucherBatchInput struct {
	PlanID     int64  `json:"plan_id"`
	LocationID int64  `json:"location_id"`
	Count      int    `json:"count"`
	Prefix     string `json:"prefix"`
	Note       string `json:"note"`
	// Kind is "redeem" (the default) or "hotspot": each code a hotspot
	// login on the location's router.
	Kind string `json:"kind"`
}

func (s *Server) validateVoucherBatch(ctx context.Context, in *voucherBatchInput) error {
	var v validation
	v.check(in.Count >= 1 && in.Count <= store.MaxVoucherBatch, "count", fmt.Sprintf("required: how many vouchers to make, 1 to %d", store.MaxVoucherBatch))
	v.check(store.ValidVoucherPrefix(in.Prefix), "prefix", fmt.Sprintf("up to %d letters and digits (upper-cased), or empty", store.MaxVoucherPrefix))
	v.check(textOK(in.Note, 500, true), "note", "at most 500 characters")
	q := s.catalogQ()
	var perr, lerr error
	if in.PlanID > 0 {
		_, perr = q.GetPlan(ctx, in.PlanID)
	}
	if err := checkRef(&v, "plan_id", "plan", in.PlanID, perr); err != nil {
		return err
	}
	if in.Kind == "" {
		in.Kind = store.BatchRedeem
	}
	v.check(store.ValidBatchKind(in.Kind), "kind", fmt.Sprintf("%q (codes redeemed for a customer) or %q (each code a hotspot login on the location's router)", store.BatchRedeem, store.BatchHotspot))
	if in.Kind == store.BatchHotspot && perr == nil && in.PlanID > 0 {
		if p, err := q.GetPlan(ctx, in.PlanID); err == nil && p.Kind != store.PlanHotspot {
			v.check(false, "plan_id", fmt.Sprintf("plan %q is a %s plan; hotspot logins need a hotspot plan", p.Name, p.Kind))
		}
	}
	if in.LocationID > 0 {
		_, lerr = q.GetLocation(ctx, in.LocationID)
	}
	if err := checkRef(&v, "location_id", "location", in.LocationID, lerr); err != nil {
		return err
	}
	return v.err()
}

// voucherBatchCreated is a new batch with its codes.
type voucherBatchCreated struct {
	*store.VoucherBatch
	Vouchers []store.Voucher `json:"vouchers"`
}

func (s *Server) listVoucherBatches(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	items, total, err := s.catalogQ().ListVoucherBatches(r.Context(), page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

func (s *Server) getVoucherBatch(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	b, err := s.catalogQ().GetVoucherBatch(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) createVoucherBatch(w http.ResponseWriter, r *http.Request) error {
	var in voucherBatchInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	b, vs, err := s.newVoucherBatch(r, &in)
	if err != nil {
		return err
	}
	writeCreated(w, r, b.ID, voucherBatchCreated{VoucherBatch: b, Vouchers: vs})
	return nil
}

// newVoucherBatch checks in and makes the batch with its audit event (the
// API's and the admin UI's).
func (s *Server) newVoucherBatch(r *http.Request, in *voucherBatchInput) (*store.VoucherBatch, []store.Voucher, error) {
	if err := s.validateVoucherBatch(r.Context(), in); err != nil {
		return nil, nil, err
	}
	b := store.VoucherBatch{PlanID: in.PlanID, LocationID: in.LocationID, Prefix: in.Prefix, Note: in.Note, Kind: in.Kind}
	if p := PrincipalFrom(r.Context()); p != nil {
		b.CreatedBy = p.Username
	}
	if b.Hotspot() && !s.auditing() {
		return nil, nil, errors.New("the job queue is not set up; hotspot logins cannot be created")
	}
	var vs []store.Voucher
	err := refusal(s.deps.DB.Tx(r.Context(), func(tx *store.Tx) error {
		var err error
		if vs, err = tx.Q().CreateVoucherBatch(r.Context(), &b, in.Count); err != nil {
			return err
		}
		// The batch's logins reach the router through a job queued
		// with it: made and queued together, or neither.
		if b.Hotspot() {
			if err := s.deps.Billing.ProvisionHotspotBatchTx(r.Context(), tx, b.ID); err != nil {
				return err
			}
		}
		// The codes are bearer credentials: never in the audit trail.
		return s.auditTx(r, tx, event("voucher_batch.created", "voucher_batch", b.ID, map[string]string{
			"plan_id": strconv.FormatInt(b.PlanID, 10), "location_id": strconv.FormatInt(b.LocationID, 10),
			"size": strconv.Itoa(b.Size), "prefix": b.Prefix, "kind": b.Kind}))
	}))
	if err != nil {
		return nil, nil, err
	}
	s.log.Info("voucher batch created", "batch", b.ID, "kind", b.Kind, "plan", b.PlanID, "location", b.LocationID, "count", b.Size, "by", b.CreatedBy)
	return &b, vs, nil
}

func (s *Server) deleteVoucherBatch(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	if err := s.dropVoucherBatch(r, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// errBatchUsed refuses to delete a batch some of whose vouchers were
// redeemed.
var errBatchUsed = &apiError{http.StatusConflict, "in_use", "some of this batch's vouchers have been redeemed, so the batch stays as their record", nil}

// dropVoucherBatch deletes a batch none of whose vouchers was redeemed
// (errBatchUsed otherwise), with its audit event (the API's and the admin
// UI's).
func (s *Server) dropVoucherBatch(r *http.Request, id int64) error {
	err := s.change(r, func(q *store.Queries) (*auditEvent, error) {
		return event("voucher_batch.deleted", "voucher_batch", id, nil), q.DeleteVoucherBatch(r.Context(), id)
	})
	if errors.Is(err, store.ErrReferenced) {
		return errBatchUsed
	}
	return err
}

func (s *Server) listBatchVouchers(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	q := s.catalogQ()
	if _, err := q.GetVoucherBatch(r.Context(), id); err != nil {
		return err
	}
	items, total, err := q.ListVouchers(r.Context(), id, page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

type redeemBody struct {
	Code       string `json:"code"`
	CustomerID int64  `json:"customer_id"`
}

func (s *Server) redeemVoucher(w http.ResponseWriter, r *http.Request) error {
	var b redeemBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	red, err := s.redeem(r, b)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red)
	return nil
}

// redeem checks b and has billing redeem the voucher for the customer (the
// API's and the admin UI's).
func (s *Server) redeem(r *http.Request, b redeemBody) (*billing.Redemption, error) {
	var v validation
	v.check(b.Code != "", "code", "required")
	v.check(b.CustomerID > 0, "customer_id", "required")
	if err := v.err(); err != nil {
		return nil, err
	}
	red, err := s.deps.Billing.Redeem(r.Context(), b.Code, b.CustomerID, actor(r))
	// Billing words its refusals (*store.FieldError): an unknown customer
	// or a voucher of another location is a 422 on its field, an unknown
	// code a 404, a used one voucher_used.
	var fe *store.FieldError
	switch {
	case errors.As(err, &fe) && fe.Field == "code" && errors.Is(fe.Kind, store.ErrConflict):
		return nil, &apiError{http.StatusConflict, "voucher_used", fe.Message, FieldErrors{"code": fe.Message}}
	case err != nil:
		return nil, refusal(err)
	}
	return red, nil
}
