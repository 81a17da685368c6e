package payment

import (
	"context"
	"fmt"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
)

// ReplayRecords are a gateway's replay records, kept in the host's durable
// store (sdk.Host's Store* calls): one per notification id, naming the
// payment the notification was about. They give HandleWebhook what the
// "Exactly once" contract in the package doc asks for: Check before the
// work a repeat may skip (the gateway's status query), Record once every
// check passed.
//
// A record saves work; it never decides whether to credit. A repeat about
// the same payment is reported again with Event.Duplicate set, so the host
// can credit a payment whose first delivery failed on its side; an id
// recorded for another payment is ErrReplay.
type ReplayRecords struct {
	// Host is the plugin's host services (Base.Host()).
	Host sdk.Host
	// Prefix starts every record's key, for example "event:".
	Prefix string
	// TTL is how long a record is kept: longer than the gateway resends a
	// notification, at most sdk.MaxStoreTTL.
	TTL time.Duration
}

func (r ReplayRecords) key(eventID string) string { return r.Prefix + eventID }

// Check looks eventID up. It reports a repeat (recorded for paymentID:
// report the event with Event.Duplicate set) and returns an error wrapping
// ErrReplay, naming both payments, when eventID was recorded for another
// payment.
func (r ReplayRecords) Check(ctx context.Context, eventID, paymentID string) (duplicate bool, err error) {
	prev, found, err := r.Host.StoreGet(ctx, r.key(eventID))
	if err != nil {
		return false, fmt.Errorf("read the replay record of notification %s: %w", eventID, err)
	}
	if !found {
		return false, nil
	}
	if err := verdict(eventID, string(prev), paymentID); err != nil {
		return false, err
	}
	return true, nil
}

// Record records eventID for paymentID unless it is recorded already;
// then it answers as Check does. Of two deliveries at once, one records and
// the other is a repeat.
func (r ReplayRecords) Record(ctx context.Context, eventID, paymentID string) (duplicate bool, err error) {
	key := r.key(eventID)
	for range 2 {
		stored, err := r.Host.StoreSet(ctx, key, []byte(paymentID), sdk.StoreSetOptions{TTL: r.TTL, OnlyIfAbsent: true})
		if err != nil {
			return false, fmt.Errorf("write the replay record of notification %s: %w", eventID, err)
		}
		if stored {
			return false, nil
		}
		prev, found, err := r.Host.StoreGet(ctx, key)
		if err != nil {
			return false, fmt.Errorf("read the replay record of notification %s: %w", eventID, err)
		}
		if found {
			if err := verdict(eventID, string(prev), paymentID); err != nil {
				return false, err
			}
			return true, nil
		}
		// Expired or forgotten in between: record it again.
	}
	return false, fmt.Errorf("%w: the replay record of notification %s keeps changing in the host's store; the gateway sends it again", sdk.ErrUnavailable, eventID)
}

// Forget removes eventID's record, so that the gateway's next delivery of
// it is checked afresh: for a delivery refused after it was recorded.
func (r ReplayRecords) Forget(ctx context.Context, eventID string) error {
	if _, err := r.Host.StoreDelete(ctx, r.key(eventID)); err != nil {
		return fmt.Errorf("remove the replay record of notification %s: %w", eventID, err)
	}
	return nil
}

func verdict(eventID, recorded, paymentID string) error {
	if recorded == paymentID {
		return nil
	}
	return fmt.Errorf("%w: notification %s was about payment %s, this one names payment %s; it pays nothing", ErrReplay, eventID, recorded, paymentID)
}
