package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Voucher codes.
const (
	// VoucherAlphabet is what codes are made of: digits and upper case
	// letters without those that read alike (0 O, 1 I L).
	VoucherAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
	// VoucherCodeLength is the random part's length: 31^10, about 2^49.5
	// codes, so guessing one is hopeless.
	VoucherCodeLength = 10
	// MaxVoucherPrefix is the longest prefix a batch may put before codes.
	MaxVoucherPrefix = 8
	// MaxVoucherBatch is the most vouchers one batch may hold.
	MaxVoucherBatch = 10000
)

// voucherPrefixRE is a prefix after NormalizeVoucherCode.
var voucherPrefixRE = regexp.MustCompile(`^[A-Z0-9]{0,8}$`)

// ValidVoucherPrefix reports whether p (after NormalizeVoucherCode) can
// prefix a batch's codes: up to MaxVoucherPrefix letters and digits.
func ValidVoucherPrefix(p string) bool { return voucherPrefixRE.MatchString(NormalizeVoucherCode(p)) }

// NormalizeVoucherCode is how a typed code is compared: upper case, without
// spaces and hyphens (which codes never contain, so "abcd-efgh" finds
// "ABCDEFGH").
func NormalizeVoucherCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(code)))
}

// VoucherBatch is a set of vouchers made at once for a plan at a location.
type VoucherBatch struct {
	ID         int64 `json:"id"`
	PlanID     int64 `json:"plan_id"`
	LocationID int64 `json:"location_id"`
	// Size is how many vouchers the batch holds.
	Size int `json:"size"`
	// Prefix starts every code of the batch (upper case; may be empty).
	Prefix    string    `json:"prefix"`
	Note      string    `json:"note"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// Redeemed is how many of its vouchers have been redeemed (read only;
	// a hotspot login counts from its first login).
	Redeemed int `json:"redeemed"`
	// Kind is BatchRedeem (the default: codes redeemed for a customer) or
	// BatchHotspot (each code a hotspot login on the location's router).
	Kind string `json:"kind"`
	// Logins counts a hotspot batch's logins by state (read only; nil for
	// a redeem batch).
	Logins *LoginCounts `json:"logins,omitempty"`
	// ProvisionError is why putting its logins on the router failed last
	// (read only; "" once it succeeds).
	ProvisionError string `json:"provision_error,omitempty"`
}

// Hotspot reports whether the batch's codes are hotspot logins.
func (b VoucherBatch) Hotspot() bool { return b.Kind == BatchHotspot }

// LoginCounts are a hotspot batch's logins by state.
type LoginCounts struct {
	// Pending are not on the router yet, Ready are there and unused,
	// Active have logged in, Expired were removed or isolated.
	Pending int `json:"pending"`
	Ready   int `json:"ready"`
	Active  int `json:"active"`
	Expired int `json:"expired"`
}

// Provisioned reports whether every login is on the router.
func (c *LoginCounts) Provisioned() bool { return c != nil && c.Pending == 0 }

const voucherBatchColumns = "b.id, b.plan_id, b.location_id, b.size, b.prefix, b.note, b.created_by, b.created_at, " +
	"(SELECT COUNT(*) FROM vouchers v WHERE v.batch_id = b.id AND v.redeemed_at IS NOT NULL), b.kind, b.provision_error, " +
	"(SELECT COUNT(*) FROM vouchers v WHERE v.batch_id = b.id AND v.login_state = 'pending'), " +
	"(SELECT COUNT(*) FROM vouchers v WHERE v.batch_id = b.id AND v.login_state = 'ready'), " +
	"(SELECT COUNT(*) FROM vouchers v WHERE v.batch_id = b.id AND v.login_state = 'active'), " +
	"(SELECT COUNT(*) FROM vouchers v WHERE v.batch_id = b.id AND v.login_state = 'expired')"

func scanVoucherBatch(r Row) (*VoucherBatch, error) {
	var b VoucherBatch
	var created int64
	var c LoginCounts
	if err := r.Scan(&b.ID, &b.PlanID, &b.LocationID, &b.Size, &b.Prefix, &b.Note, &b.CreatedBy, &created, &b.Redeemed,
		&b.Kind, &b.ProvisionError, &c.Pending, &c.Ready, &c.Active, &c.Expired); err != nil {
		return nil, err
	}
	b.CreatedAt = FromMillis(created)
	if b.Hotspot() {
		b.Logins = &c
	}
	return &b, nil
}

// Voucher is a one-time code worth a plan.
type Voucher struct {
	ID      int64 `json:"id"`
	BatchID int64 `json:"batch_id"`
	// Code is upper case; see NormalizeVoucherCode.
	Code string `json:"code"`
	// RedeemedAt is when it was used (zero: not yet).
	RedeemedAt time.Time `json:"redeemed_at,omitzero"`
	// RedeemedByCustomerID is who used it (0: nobody, or an anonymous use).
	RedeemedByCustomerID int64 `json:"redeemed_by_customer_id,omitempty"`
	// SubscriptionID is the subscription it paid for (0: none yet).
	SubscriptionID int64     `json:"subscription_id,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	// LoginState is a hotspot login's state (LoginPending, LoginReady,
	// LoginActive, LoginExpired); "" for a voucher redeemed for a
	// customer.
	LoginState string `json:"login_state,omitempty"`
	// FirstLoginAt is when a hotspot login was first seen online, and
	// ExpiresAt when its validity ends (the plan's after the first login).
	FirstLoginAt time.Time `json:"first_login_at,omitzero"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

const voucherColumns = "id, batch_id, code, redeemed_at, redeemed_by_customer_id, subscription_id, created_at, login_state, first_login_at, expires_at"

func scanVoucher(r Row) (*Voucher, error) {
	var v Voucher
	var redeemed, customer, sub, first, expires sql.NullInt64
	var created int64
	if err := r.Scan(&v.ID, &v.BatchID, &v.Code, &redeemed, &customer, &sub, &created, &v.LoginState, &first, &expires); err != nil {
		return nil, err
	}
	v.RedeemedAt, v.RedeemedByCustomerID, v.SubscriptionID = FromNullMillis(redeemed), customer.Int64, sub.Int64
	v.CreatedAt = FromMillis(created)
	v.FirstLoginAt, v.ExpiresAt = FromNullMillis(first), FromNullMillis(expires)
	return &v, nil
}

// optionalID stores an optional reference: NULL for 0.
func optionalID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// voucherRandom is where codes come from (tests script it to force
// collisions).
var voucherRandom io.Reader = rand.Reader

// NewVoucherCode returns prefix followed by VoucherCodeLength characters of
// VoucherAlphabet drawn uniformly with crypto/rand.
func NewVoucherCode(prefix string) (string, error) {
	const n = len(VoucherAlphabet)
	const limit = 256 - 256%n // reject bytes >= limit so each character is equally likely
	out := make([]byte, 0, len(prefix)+VoucherCodeLength)
	out = append(out, prefix...)
	var buf [2 * VoucherCodeLength]byte
	for len(out) < len(prefix)+VoucherCodeLength {
		if _, err := io.ReadFull(voucherRandom, buf[:]); err != nil {
			return "", fmt.Errorf("voucher code: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < len(prefix)+VoucherCodeLength {
				out = append(out, VoucherAlphabet[int(b)%n])
			}
		}
	}
	return string(out), nil
}

// inTx runs fn in a transaction: q's own when q already is a transaction's
// queries (Tx.Q), otherwise a new one on q's store.
func (q *Queries) inTx(ctx context.Context, fn func(q *Queries) error) error {
	switch d := q.db.(type) {
	case pgxDB:
		if _, ok := d.q.(pgx.Tx); ok {
			return fn(q)
		}
	case sqlDB:
		if _, ok := d.q.(*sql.Tx); ok {
			return fn(q)
		}
	}
	return q.store.Tx(ctx, func(tx *Tx) error { return fn(tx.Q()) })
}

// maxCodeAttempts bounds the retries of one voucher whose codes collide
// with existing ones: with 2^49 codes a single collision is already rare.
const maxCodeAttempts = 10

// CreateVoucherBatch makes a batch of n vouchers with unpredictable codes
// (NewVoucherCode, after the batch's Prefix, which is normalized to upper
// case), all in one transaction (q's own when q is a transaction's), and
// returns them in creation order. It sets the batch's ID, Size (n) and
// creation time. n must be 1 to MaxVoucherBatch and the prefix valid
// (ErrInvalid); a missing plan or location is ErrReferenced. A code that
// happens to exist already is drawn again.
func (q *Queries) CreateVoucherBatch(ctx context.Context, b *VoucherBatch, n int) ([]Voucher, error) {
	b.Prefix = NormalizeVoucherCode(b.Prefix)
	if n < 1 || n > MaxVoucherBatch {
		return nil, fmt.Errorf("create voucher batch: %w: the number of vouchers must be between 1 and %d, got %d", ErrInvalid, MaxVoucherBatch, n)
	}
	if !voucherPrefixRE.MatchString(b.Prefix) {
		return nil, fmt.Errorf("create voucher batch: %w: the prefix must be up to %d letters and digits", ErrInvalid, MaxVoucherPrefix)
	}
	if b.Kind == "" {
		b.Kind = BatchRedeem
	}
	if !ValidBatchKind(b.Kind) {
		return nil, fmt.Errorf("create voucher batch: %w: the kind must be %q or %q, got %q", ErrInvalid, BatchRedeem, BatchHotspot, b.Kind)
	}
	state := ""
	if b.Hotspot() {
		state = LoginPending
	}
	now := q.store.now()
	out := make([]Voucher, 0, n)
	err := q.inTx(ctx, func(q *Queries) error {
		out = out[:0]
		if err := q.db.QueryRow(ctx, `INSERT INTO voucher_batches (plan_id, location_id, size, prefix, note, created_by, created_at, kind)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			b.PlanID, b.LocationID, n, b.Prefix, b.Note, b.CreatedBy, Millis(now), b.Kind).Scan(&b.ID); err != nil {
			return err
		}
		for range n {
			v := Voucher{BatchID: b.ID, CreatedAt: now.Truncate(time.Millisecond), LoginState: state}
			for attempt := 1; ; attempt++ {
				code, err := NewVoucherCode(b.Prefix)
				if err != nil {
					return err
				}
				// ON CONFLICT DO NOTHING rather than catching the error:
				// on PostgreSQL a failed statement would abort the
				// transaction.
				err = q.db.QueryRow(ctx, `INSERT INTO vouchers (batch_id, code, created_at, login_state) VALUES (?, ?, ?, ?)
					ON CONFLICT (code) DO NOTHING RETURNING id`, b.ID, code, Millis(now), state).Scan(&v.ID)
				if err == nil {
					v.Code = code
					break
				}
				if !errors.Is(err, ErrNotFound) {
					return err
				}
				if attempt == maxCodeAttempts {
					return fmt.Errorf("%w: no unused code after %d attempts", ErrConflict, attempt)
				}
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		err = fieldError(err, ErrReferenced, "", fmt.Sprintf("plan %d or location %d does not exist; check both ids", b.PlanID, b.LocationID))
		return nil, fmt.Errorf("create voucher batch for plan %d: %w", b.PlanID, err)
	}
	b.Size, b.Redeemed, b.CreatedAt = n, 0, now.Truncate(time.Millisecond)
	if b.Hotspot() {
		b.Logins = &LoginCounts{Pending: n}
	}
	return out, nil
}

// GetVoucherBatch reads one batch.
func (q *Queries) GetVoucherBatch(ctx context.Context, id int64) (*VoucherBatch, error) {
	b, err := scanVoucherBatch(q.db.QueryRow(ctx, "SELECT "+voucherBatchColumns+" FROM voucher_batches b WHERE b.id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("voucher batch %d: %w", id, err)
	}
	return b, nil
}

// ListVoucherBatches lists batches, newest first, and returns the total.
func (q *Queries) ListVoucherBatches(ctx context.Context, page Page) ([]VoucherBatch, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM voucher_batches").Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count voucher batches: %w", err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+voucherBatchColumns+" FROM voucher_batches b ORDER BY b.created_at DESC, b.id DESC"+page.sql())
	if err != nil {
		return nil, 0, fmt.Errorf("list voucher batches: %w", err)
	}
	defer rows.Close()
	var out []VoucherBatch
	for rows.Next() {
		b, err := scanVoucherBatch(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list voucher batches: %w", err)
		}
		out = append(out, *b)
	}
	return out, total, rows.Err()
}

// DeleteVoucherBatch removes a batch and its vouchers, in one transaction,
// when none of them has been redeemed or is otherwise referred to
// (ErrReferenced otherwise).
func (q *Queries) DeleteVoucherBatch(ctx context.Context, id int64) error {
	err := q.inTx(ctx, func(q *Queries) error {
		// A hotspot login on the router is in use too: deleting its
		// record would leave it there for `routers sync` to call a stray.
		var redeemed int
		if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM vouchers WHERE batch_id = ? AND (redeemed_at IS NOT NULL OR login_state IN ('ready', 'active'))", id).Scan(&redeemed); err != nil {
			return err
		}
		if redeemed > 0 {
			return fmt.Errorf("%w: %d of its vouchers have been redeemed or are logins on the router", ErrReferenced, redeemed)
		}
		if _, err := q.db.Exec(ctx, "DELETE FROM vouchers WHERE batch_id = ?", id); err != nil {
			return err
		}
		n, err := q.db.Exec(ctx, "DELETE FROM voucher_batches WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete voucher batch %d: %w", id, err)
	}
	return nil
}

// ListVouchers lists a batch's vouchers in creation order and returns
// their total. A batch that does not exist has none: check it with
// GetVoucherBatch to tell the two apart.
func (q *Queries) ListVouchers(ctx context.Context, batchID int64, page Page) ([]Voucher, int, error) {
	page, err := page.Normalized()
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := q.db.QueryRow(ctx, "SELECT COUNT(*) FROM vouchers WHERE batch_id = ?", batchID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count vouchers of batch %d: %w", batchID, err)
	}
	rows, err := q.db.Query(ctx, "SELECT "+voucherColumns+" FROM vouchers WHERE batch_id = ? ORDER BY id"+page.sql(), batchID)
	if err != nil {
		return nil, 0, fmt.Errorf("list vouchers of batch %d: %w", batchID, err)
	}
	defer rows.Close()
	var out []Voucher
	for rows.Next() {
		v, err := scanVoucher(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list vouchers of batch %d: %w", batchID, err)
		}
		out = append(out, *v)
	}
	return out, total, rows.Err()
}

// GetVoucherByCode reads the voucher with a code, compared as
// NormalizeVoucherCode does.
func (q *Queries) GetVoucherByCode(ctx context.Context, code string) (*Voucher, error) {
	v, err := scanVoucher(q.db.QueryRow(ctx, "SELECT "+voucherColumns+" FROM vouchers WHERE code = ?", NormalizeVoucherCode(code)))
	if err != nil {
		return nil, fmt.Errorf("voucher %s: %w", redactCode(code), err)
	}
	return v, nil
}

// RedeemVoucher marks the voucher with a code (compared as
// NormalizeVoucherCode does) redeemed now by a customer (0: anonymously)
// and returns it. It succeeds once per voucher, however many try at the
// same moment. Refusals are *FieldErrors worded for the person who typed
// the code: a second redemption is ErrConflict (on "code", saying when it
// was used), an unknown code ErrNotFound (on "code"), a missing customer
// ErrReferenced (on "customer_id").
//
// Call it on a transaction's queries (Tx.Q) to redeem atomically with what
// the voucher pays for (creating the subscription, LinkVoucherSubscription,
// crediting an invoice): if the transaction rolls back, the voucher is
// unused again.
func (q *Queries) RedeemVoucher(ctx context.Context, code string, customerID int64) (*Voucher, error) {
	norm := NormalizeVoucherCode(code)
	v, err := scanVoucher(q.db.QueryRow(ctx, `UPDATE vouchers SET redeemed_at = ?, redeemed_by_customer_id = ?
		WHERE code = ? AND redeemed_at IS NULL AND login_state = '' RETURNING `+voucherColumns,
		Millis(q.store.now()), optionalID(customerID), norm))
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, ErrNotFound) {
		err = fieldError(err, ErrReferenced, "customer_id", "no such customer")
		return nil, fmt.Errorf("redeem voucher %s: %w", redactCode(code), err)
	}
	// Nothing updated: either no such code, or it was used already.
	var redeemed sql.NullInt64
	var login string
	err = q.db.QueryRow(ctx, "SELECT redeemed_at, login_state FROM vouchers WHERE code = ?", norm).Scan(&redeemed, &login)
	switch {
	case errors.Is(err, ErrNotFound):
		err = &FieldError{Kind: ErrNotFound, Field: "code", Err: err,
			Message: "no voucher has this code; check it for typos (case, spaces and hyphens do not matter)"}
	case err == nil && login != "":
		err = &FieldError{Kind: ErrInvalid, Field: "code",
			Message: "this voucher is a hotspot login: it is typed on the hotspot's login page, not redeemed for a customer"}
	case err == nil:
		err = &FieldError{Kind: ErrConflict, Field: "code",
			Message: fmt.Sprintf("this voucher was redeemed on %s; a voucher works once", FromNullMillis(redeemed).Format("2006-01-02 15:04 UTC"))}
	}
	return nil, fmt.Errorf("redeem voucher %s: %w", redactCode(code), err)
}

// LinkVoucherSubscription records the subscription a redeemed voucher paid
// for. A missing voucher is ErrNotFound, a missing subscription
// ErrReferenced.
func (q *Queries) LinkVoucherSubscription(ctx context.Context, voucherID, subscriptionID int64) error {
	n, err := q.db.Exec(ctx, "UPDATE vouchers SET subscription_id = ? WHERE id = ?", subscriptionID, voucherID)
	if err != nil {
		return fmt.Errorf("link voucher %d to subscription %d: %w", voucherID, subscriptionID, err)
	}
	if n == 0 {
		return fmt.Errorf("link voucher %d to subscription %d: %w", voucherID, subscriptionID, ErrNotFound)
	}
	return nil
}

// redactCode shows enough of a code for a log line or an error message
// without making it usable: its first four characters.
func redactCode(code string) string {
	c := NormalizeVoucherCode(code)
	if len(c) <= 4 {
		return strings.Repeat("*", len(c))
	}
	return c[:4] + strings.Repeat("*", len(c)-4)
}

// Keyset pages of batches and vouchers, for the admin UI's lists of any
// length.

// ListVoucherBatchesBefore lists up to limit batches (1 to MaxLimit)
// whose id is below before (0: from the newest), newest first.
func (q *Queries) ListVoucherBatchesBefore(ctx context.Context, before int64, limit int) ([]VoucherBatch, error) {
	page, err := Page{Limit: limit}.Normalized()
	if err != nil {
		return nil, err
	}
	cond, args := "", []any{}
	if before > 0 {
		cond, args = " WHERE b.id < ?", append(args, before)
	}
	rows, err := q.db.Query(ctx, "SELECT "+voucherBatchColumns+" FROM voucher_batches b"+cond+fmt.Sprintf(" ORDER BY b.id DESC LIMIT %d", page.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list voucher batches: %w", err)
	}
	defer rows.Close()
	out := make([]VoucherBatch, 0, page.Limit)
	for rows.Next() {
		b, err := scanVoucherBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("list voucher batches: %w", err)
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

// VoucherFilter narrows the vouchers ListVouchersAfter lists.
type VoucherFilter struct {
	// Unused keeps the vouchers not redeemed yet.
	Unused bool
	// LoginState keeps the hotspot logins in that state ("": any).
	LoginState string
}

// ListVouchersAfter lists up to limit (1 to MaxLimit) of a batch's
// vouchers whose id is above after, in creation order. A batch that does
// not exist has none.
func (q *Queries) ListVouchersAfter(ctx context.Context, batchID int64, f VoucherFilter, after int64, limit int) ([]Voucher, error) {
	page, err := Page{Limit: limit}.Normalized()
	if err != nil {
		return nil, err
	}
	cond := " WHERE batch_id = ? AND id > ?"
	args := []any{batchID, after}
	if f.Unused {
		cond += " AND redeemed_at IS NULL"
	}
	if f.LoginState != "" {
		cond, args = cond+" AND login_state = ?", append(args, f.LoginState)
	}
	rows, err := q.db.Query(ctx, "SELECT "+voucherColumns+" FROM vouchers"+cond+fmt.Sprintf(" ORDER BY id LIMIT %d", page.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list vouchers of batch %d: %w", batchID, err)
	}
	defer rows.Close()
	out := make([]Voucher, 0, page.Limit)
	for rows.Next() {
		v, err := scanVoucher(rows)
		if err != nil {
			return nil, fmt.Errorf("list vouchers of batch %d: %w", batchID, err)
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// GetVoucher reads one voucher by id.
func (q *Queries) GetVoucher(ctx context.Context, id int64) (*Voucher, error) {
	v, err := scanVoucher(q.db.QueryRow(ctx, "SELECT "+voucherColumns+" FROM vouchers WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("voucher %d: %w", id, err)
	}
	return v, nil
}
