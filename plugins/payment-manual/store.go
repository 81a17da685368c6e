package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
)

// The plugin keeps everything in the host's durable plugin store (a table
// in the host's database), so payments survive restarts, a move of the
// host's database to PostgreSQL, and are the same on every host that
// shares the database. Keys:
//
//	payment:<id>                   the payment as created (record); never changes
//	order:<escaped order id>/<id>  the payments of an order (an index)
//	key:<sha256 of the key>        the payment an idempotency key created
//	paid:<id>                      the confirmation of a payment (paidRecord)
//	refund:<id>                    the refund of a payment (refundRecord)
//	event:<event id>               the payment a signed confirmation was about
//	                               (the replay record)
//
// A payment's state is its record plus its confirmation and refund, each
// written once with set-if-absent: two confirmations of one payment at
// once (two hosts, the webhook and the route) cannot both win, and nothing
// is ever read, changed and written back. Expiry follows from the clock.
const (
	paymentPrefix = "payment:"
	orderPrefix   = "order:"
	keyPrefix     = "key:"
	paidPrefix    = "paid:"
	refundPrefix  = "refund:"
	eventPrefix   = "event:"
)

// eventTTL is how long a confirmation's replay record is kept: the longest
// the store allows. Payments expire within 30 days (expiry_hours), so a
// confirmation repeated later has nothing to pay.
const eventTTL = sdk.MaxStoreTTL

// maxEventIDBytes bounds event ids, which become store keys.
const maxEventIDBytes = 256

// record is a payment as created.
type record struct {
	ID           string    `json:"id"`
	OrderID      string    `json:"order_id"`
	Amount       int64     `json:"amount"`
	Currency     string    `json:"currency"`
	Method       string    `json:"method,omitempty"`
	Instructions string    `json:"instructions,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

// paidRecord is a payment's confirmation.
type paidRecord struct {
	PaidAt      time.Time `json:"paid_at"`
	ConfirmedBy string    `json:"confirmed_by,omitempty"`
	// EventID is the signed confirmation's event id; empty when an
	// operator confirmed on the plugin's route.
	EventID string `json:"event_id,omitempty"`
}

// refundRecord is a payment's refund.
type refundRecord struct {
	RefundedAt time.Time `json:"refunded_at"`
}

// state is a payment with what happened to it.
type state struct {
	rec    record
	paid   *paidRecord
	refund *refundRecord
}

// payment is the state as the SDK's Payment at now.
func (s *state) payment(now time.Time) payment.Payment {
	p := payment.Payment{
		ID: s.rec.ID, OrderID: s.rec.OrderID, Status: payment.StatusPending,
		Amount: payment.Money{Amount: s.rec.Amount, Currency: s.rec.Currency}, Method: s.rec.Method,
		Instructions: s.rec.Instructions, CreatedAt: s.rec.CreatedAt, ExpiresAt: s.rec.ExpiresAt,
		GatewayStatus: "awaiting_confirmation",
	}
	switch {
	case s.refund != nil:
		p.Status, p.GatewayStatus = payment.StatusRefunded, "refunded"
	case s.paid != nil:
		p.Status, p.GatewayStatus = payment.StatusPaid, "confirmed"
	case !s.rec.ExpiresAt.IsZero() && now.After(s.rec.ExpiresAt):
		p.Status, p.GatewayStatus = payment.StatusExpired, "expired"
	}
	if s.paid != nil {
		p.PaidAt = s.paid.PaidAt
		if s.paid.ConfirmedBy != "" {
			p.Raw, _ = json.Marshal(map[string]string{"confirmed_by": s.paid.ConfirmedBy})
		}
	}
	return p
}

// store reads and writes the plugin's records in the host's durable store.
type store struct{ host sdk.Host }

func orderKey(orderID string) string { return orderPrefix + url.PathEscape(orderID) + "/" }

// hashKey keeps idempotency keys (the host's choice, of any length) out of
// the store's key space.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return keyPrefix + hex.EncodeToString(sum[:])
}

// wrapStore names what failed in the host's store. Its errors already wrap
// the SDK's sentinels (ErrUnavailable, ErrNotSupported, ...).
func wrapStore(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s in the host's plugin store: %w", what, err)
}

func (s store) getJSON(ctx context.Context, key string, v any) (bool, error) {
	raw, found, err := s.host.StoreGet(ctx, key)
	if err != nil || !found {
		return false, wrapStore("read "+key, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%w: %s in the host's plugin store is unreadable: %v", sdk.ErrInternal, key, err)
	}
	return true, nil
}

// setJSON writes v under key; with onlyIfAbsent it reports whether it
// stored.
func (s store) setJSON(ctx context.Context, key string, v any, ttl time.Duration, onlyIfAbsent bool) (bool, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	stored, err := s.host.StoreSet(ctx, key, raw, sdk.StoreSetOptions{TTL: ttl, OnlyIfAbsent: onlyIfAbsent})
	return stored, wrapStore("write "+key, err)
}

// load reads a payment's state; found is false for an unknown id.
func (s store) load(ctx context.Context, id string) (*state, bool, error) {
	st := &state{}
	found, err := s.getJSON(ctx, paymentPrefix+id, &st.rec)
	if err != nil || !found {
		return nil, false, err
	}
	var paid paidRecord
	if ok, err := s.getJSON(ctx, paidPrefix+id, &paid); err != nil {
		return nil, false, err
	} else if ok {
		st.paid = &paid
	}
	var refund refundRecord
	if ok, err := s.getJSON(ctx, refundPrefix+id, &refund); err != nil {
		return nil, false, err
	} else if ok {
		st.refund = &refund
	}
	return st, true, nil
}

// save writes a new payment's record and its order index. A record that
// exists already is kept (another writer of the same idempotency key got
// there first).
func (s store) save(ctx context.Context, r *record) error {
	if _, err := s.setJSON(ctx, paymentPrefix+r.ID, r, 0, true); err != nil {
		return err
	}
	_, err := s.host.StoreSet(ctx, orderKey(r.OrderID)+r.ID, []byte(r.ID), sdk.StoreSetOptions{})
	return wrapStore("index payment "+r.ID+" of order "+r.OrderID, err)
}

// ofOrder returns the states of an order's payments.
func (s store) ofOrder(ctx context.Context, orderID string) ([]*state, error) {
	var out []*state
	prefix, after := orderKey(orderID), ""
	for {
		page, err := s.host.StoreList(ctx, prefix, after, 0)
		if err != nil {
			return nil, wrapStore("list the payments of order "+orderID, err)
		}
		for _, e := range page {
			st, found, err := s.load(ctx, strings.TrimPrefix(e.Key, prefix))
			if err != nil {
				return nil, err
			}
			if found {
				out = append(out, st)
			}
		}
		if len(page) < sdk.MaxStoreListLimit {
			return out, nil
		}
		after = page[len(page)-1].Key
	}
}

// list reads every entry under prefix, page by page.
func (s store) list(ctx context.Context, prefix string, fn func(key string, value []byte) error) error {
	after := ""
	for {
		page, err := s.host.StoreList(ctx, prefix, after, 0)
		if err != nil {
			return wrapStore("list "+prefix, err)
		}
		for _, e := range page {
			if err := fn(strings.TrimPrefix(e.Key, prefix), e.Value); err != nil {
				return err
			}
		}
		if len(page) < sdk.MaxStoreListLimit {
			return nil
		}
		after = page[len(page)-1].Key
	}
}

// all returns every payment's state, newest first: three passes over the
// store (payments, confirmations, refunds), not three reads per payment.
func (s store) all(ctx context.Context) ([]*state, error) {
	byID := map[string]*state{}
	var out []*state
	err := s.list(ctx, paymentPrefix, func(id string, v []byte) error {
		st := &state{}
		if err := json.Unmarshal(v, &st.rec); err != nil {
			return fmt.Errorf("%w: payment %s in the host's plugin store is unreadable: %v", sdk.ErrInternal, id, err)
		}
		byID[id] = st
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.list(ctx, paidPrefix, func(id string, v []byte) error {
		var p paidRecord
		if st := byID[id]; st != nil && json.Unmarshal(v, &p) == nil {
			st.paid = &p
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.list(ctx, refundPrefix, func(id string, v []byte) error {
		var r refundRecord
		if st := byID[id]; st != nil && json.Unmarshal(v, &r) == nil {
			st.refund = &r
		}
		return nil
	}); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].rec.CreatedAt.Equal(out[j].rec.CreatedAt) {
			return out[i].rec.CreatedAt.After(out[j].rec.CreatedAt)
		}
		return out[i].rec.ID < out[j].rec.ID
	})
	return out, nil
}

// markPaid records a payment's confirmation unless it has one; it reports
// whether this call confirmed it.
func (s store) markPaid(ctx context.Context, id string, p paidRecord) (bool, error) {
	return s.setJSON(ctx, paidPrefix+id, p, 0, true)
}

// replays are the signed confirmations' replay records.
func (s store) replays() payment.ReplayRecords {
	return payment.ReplayRecords{Host: s.host, Prefix: eventPrefix, TTL: eventTTL}
}

// legacyFile is where versions before the durable store kept payments, in
// the plugin's data directory; importLegacy moves them into the store.
const legacyFile = "payments.json"

// legacyData is legacyFile's shape.
type legacyData struct {
	Payments map[string]*payment.Payment `json:"payments"`
	// ByKey maps idempotency keys to payment ids.
	ByKey map[string]string `json:"by_key"`
	// Events maps confirmations' event ids to payment ids.
	Events map[string]string `json:"events"`
}

// importLegacy copies the payments, idempotency keys and confirmation
// records of an earlier version's payments.json in dir into the store, and
// renames the file to payments.json.imported. It keeps what the store has
// already (set-if-absent), so an import that stopped halfway is simply run
// again. No file: nothing to do.
func (s store) importLegacy(ctx context.Context, dir string) (int, error) {
	if dir == "" {
		return 0, nil
	}
	path := filepath.Join(dir, legacyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	var d legacyData
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, fmt.Errorf("read %s: %w; restore it from a backup, or move it away to start without its payments", path, err)
	}
	for id, p := range d.Payments {
		if p == nil {
			continue
		}
		r := &record{ID: id, OrderID: p.OrderID, Amount: p.Amount.Amount, Currency: p.Amount.Currency, Method: p.Method,
			Instructions: p.Instructions, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt}
		if err := s.save(ctx, r); err != nil {
			return 0, fmt.Errorf("import payment %s from %s: %w", id, path, err)
		}
		if p.Status == payment.StatusPaid || p.Status == payment.StatusRefunded {
			var by struct {
				ConfirmedBy string `json:"confirmed_by"`
			}
			_ = json.Unmarshal(p.Raw, &by)
			if _, err := s.markPaid(ctx, id, paidRecord{PaidAt: p.PaidAt, ConfirmedBy: by.ConfirmedBy}); err != nil {
				return 0, fmt.Errorf("import payment %s from %s: %w", id, path, err)
			}
		}
		if p.Status == payment.StatusRefunded {
			if _, err := s.setJSON(ctx, refundPrefix+id, refundRecord{}, 0, true); err != nil {
				return 0, fmt.Errorf("import payment %s from %s: %w", id, path, err)
			}
		}
	}
	for key, id := range d.ByKey {
		if _, err := s.host.StoreSet(ctx, hashKey(key), []byte(id), sdk.StoreSetOptions{OnlyIfAbsent: true}); err != nil {
			return 0, fmt.Errorf("import an idempotency key from %s: %w", path, wrapStore("write it", err))
		}
	}
	for ev, id := range d.Events {
		if len(ev) > maxEventIDBytes {
			continue // could never have been sent again: refused as too long now
		}
		if _, err := s.host.StoreSet(ctx, eventPrefix+ev, []byte(id), sdk.StoreSetOptions{TTL: eventTTL, OnlyIfAbsent: true}); err != nil {
			return 0, fmt.Errorf("import confirmation %s from %s: %w", ev, path, wrapStore("write it", err))
		}
	}
	if err := os.Rename(path, path+".imported"); err != nil {
		return 0, fmt.Errorf("imported %s into the host's plugin store, but could not rename it: %w; rename it to %s.imported by hand", path, err, legacyFile)
	}
	return len(d.Payments), nil
}
