package store

// Hotspot vouchers: a batch of kind BatchHotspot makes each code a hotspot
// login on its location's router (the code is the user's name and
// password). billing's jobs move each login through its states: pending
// (made in the store) -> ready (on the router) -> active (first seen
// online: the validity starts) -> expired (removed or isolated).

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Voucher batch kinds.
const (
	// BatchRedeem: codes redeemed for a customer (billing.Redeem).
	BatchRedeem = "redeem"
	// BatchHotspot: each code is a hotspot login on the router.
	BatchHotspot = "hotspot"
)

// ValidBatchKind reports whether k is a batch kind.
func ValidBatchKind(k string) bool { return k == BatchRedeem || k == BatchHotspot }

// Hotspot login states (Voucher.LoginState).
const (
	LoginPending = "pending"
	LoginReady   = "ready"
	LoginActive  = "active"
	LoginExpired = "expired"
)

// VoucherLogin is a hotspot voucher with what the jobs need beside it:
// its plan and its router location.
type VoucherLogin struct {
	Voucher
	Plan           Plan
	LocationID     int64
	LocationName   string
	LocationPlugin string
}

const voucherLoginSelect = `SELECT v.id, v.batch_id, v.code, v.redeemed_at, v.redeemed_by_customer_id, v.subscription_id, v.created_at,
			v.login_state, v.first_login_at, v.expires_at,
			p.id, p.name, p.kind, p.rate_limit, p.shared_users, p.time_limit_seconds, p.data_limit_bytes, p.validity_seconds,
			p.price_amount, p.currency, p.profile, p.isolation_profile, p.active, p.created_at, p.updated_at,
			l.id, l.name, l.plugin
		FROM vouchers v
		JOIN voucher_batches b ON b.id = v.batch_id
		JOIN plans p ON p.id = b.plan_id
		JOIN router_locations l ON l.id = b.location_id`

func scanVoucherLogin(r Row) (*VoucherLogin, error) {
	var l VoucherLogin
	v, p := &l.Voucher, &l.Plan
	var redeemed, customer, sub, first, expires sql.NullInt64
	var created, timeLimit, validity, pc, pu int64
	if err := r.Scan(&v.ID, &v.BatchID, &v.Code, &redeemed, &customer, &sub, &created, &v.LoginState, &first, &expires,
		&p.ID, &p.Name, &p.Kind, &p.RateLimit, &p.SharedUsers, &timeLimit, &p.DataLimitBytes, &validity,
		&p.Price, &p.Currency, &p.Profile, &p.IsolationProfile, &p.Active, &pc, &pu,
		&l.LocationID, &l.LocationName, &l.LocationPlugin); err != nil {
		return nil, err
	}
	v.RedeemedAt, v.RedeemedByCustomerID, v.SubscriptionID = FromNullMillis(redeemed), customer.Int64, sub.Int64
	v.CreatedAt, v.FirstLoginAt, v.ExpiresAt = FromMillis(created), FromNullMillis(first), FromNullMillis(expires)
	p.TimeLimit, p.Validity = time.Duration(timeLimit)*time.Second, time.Duration(validity)*time.Second
	p.CreatedAt, p.UpdatedAt = FromMillis(pc), FromMillis(pu)
	return &l, nil
}

func (q *Queries) voucherLogins(ctx context.Context, what, where string, args ...any) ([]VoucherLogin, error) {
	rows, err := q.db.Query(ctx, voucherLoginSelect+" WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []VoucherLogin
	for rows.Next() {
		l, err := scanVoucherLogin(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, *l)
	}
	return out, rows.Err()
}

// GetVoucherLogin reads one hotspot voucher with its plan and location
// (ErrNotFound for a voucher that is not a hotspot login).
func (q *Queries) GetVoucherLogin(ctx context.Context, id int64) (*VoucherLogin, error) {
	l, err := scanVoucherLogin(q.db.QueryRow(ctx, voucherLoginSelect+" WHERE v.id = ? AND v.login_state <> ''", id))
	if err != nil {
		return nil, fmt.Errorf("hotspot voucher %d: %w", id, err)
	}
	return l, nil
}

// ListVoucherLoginsAt lists the hotspot vouchers of a location in the given
// states, in creation order.
func (q *Queries) ListVoucherLoginsAt(ctx context.Context, locationID int64, states ...string) ([]VoucherLogin, error) {
	if len(states) == 0 {
		return nil, nil
	}
	args := []any{locationID}
	for _, st := range states {
		args = append(args, st)
	}
	return q.voucherLogins(ctx, fmt.Sprintf("list the hotspot vouchers of location %d", locationID),
		"b.location_id = ? AND v.login_state IN ("+placeholders(len(states))+") ORDER BY v.id", args...)
}

// ListVoucherLoginLocations lists the ids of the locations that have
// hotspot vouchers in a state.
func (q *Queries) ListVoucherLoginLocations(ctx context.Context, state string) ([]int64, error) {
	rows, err := q.db.Query(ctx, `SELECT DISTINCT b.location_id FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id
		WHERE v.login_state = ? ORDER BY b.location_id`, state)
	if err != nil {
		return nil, fmt.Errorf("list the locations of %s hotspot vouchers: %w", state, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ListDueVoucherLogins lists up to limit active hotspot vouchers whose
// validity ended at or before before, soonest first.
func (q *Queries) ListDueVoucherLogins(ctx context.Context, before time.Time, limit int) ([]Voucher, error) {
	rows, err := q.db.Query(ctx, "SELECT "+voucherColumns+" FROM vouchers WHERE login_state = ? AND expires_at <= ? ORDER BY expires_at, id"+
		fmt.Sprintf(" LIMIT %d", max(limit, 1)), LoginActive, Millis(before))
	if err != nil {
		return nil, fmt.Errorf("list due hotspot vouchers: %w", err)
	}
	defer rows.Close()
	var out []Voucher
	for rows.Next() {
		v, err := scanVoucher(rows)
		if err != nil {
			return nil, fmt.Errorf("list due hotspot vouchers: %w", err)
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// MarkVoucherLoginsReady records that the pending hotspot vouchers ids are
// on the router, and clears their batch's provisioning error. It returns
// how many moved.
func (q *Queries) MarkVoucherLoginsReady(ctx context.Context, batchID int64, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{LoginReady, batchID, LoginPending}
	for _, id := range ids {
		args = append(args, id)
	}
	var n int64
	err := q.inTx(ctx, func(q *Queries) error {
		var err error
		if n, err = q.db.Exec(ctx, "UPDATE vouchers SET login_state = ? WHERE batch_id = ? AND login_state = ? AND id IN ("+placeholders(len(ids))+")", args...); err != nil {
			return err
		}
		_, err = q.db.Exec(ctx, "UPDATE voucher_batches SET provision_error = '' WHERE id = ?", batchID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark the hotspot vouchers of batch %d ready: %w", batchID, err)
	}
	return int(n), nil
}

// SetVoucherBatchProvisionError records why putting a batch's logins on
// the router failed ("" clears it).
func (q *Queries) SetVoucherBatchProvisionError(ctx context.Context, batchID int64, msg string) error {
	if _, err := q.db.Exec(ctx, "UPDATE voucher_batches SET provision_error = ? WHERE id = ?", msg, batchID); err != nil {
		return fmt.Errorf("record the provisioning error of batch %d: %w", batchID, err)
	}
	return nil
}

// RecordVoucherFirstLogin moves a ready hotspot voucher to active: first
// seen online at at, valid until expires. The voucher counts as redeemed
// from then. It reports false (and changes nothing) when the voucher was
// not ready, so two scans record one first login.
func (q *Queries) RecordVoucherFirstLogin(ctx context.Context, id int64, at, expires time.Time) (bool, error) {
	n, err := q.db.Exec(ctx, `UPDATE vouchers SET login_state = ?, first_login_at = ?, expires_at = ?, redeemed_at = ?
		WHERE id = ? AND login_state = ?`, LoginActive, Millis(at), Millis(expires), Millis(at), id, LoginReady)
	if err != nil {
		return false, fmt.Errorf("record the first login of hotspot voucher %d: %w", id, err)
	}
	return n == 1, nil
}

// ExpireVoucherLogin moves an active hotspot voucher to expired; false
// when it was not active.
func (q *Queries) ExpireVoucherLogin(ctx context.Context, id int64) (bool, error) {
	n, err := q.db.Exec(ctx, "UPDATE vouchers SET login_state = ? WHERE id = ? AND login_state = ?", LoginExpired, id, LoginActive)
	if err != nil {
		return false, fmt.Errorf("expire hotspot voucher %d: %w", id, err)
	}
	return n == 1, nil
}

// placeholders is n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
