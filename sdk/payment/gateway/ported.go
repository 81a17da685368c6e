package gateway

import (
	"context"
	"time"
)

// What a gateway that had code of its own before it was ported onto this
// package needs besides Env.Host and Spec.Legacy (legacy.go): several API
// hosts (ClientConfig.BaseURL; health reports a failure at any), headers of
// one call (Call.Header), a create that waits for a concurrent one with the
// same key (Spec.AwaitCreate), a check of notifications against its own
// records (NotificationChecker), and stale paid notifications reported
// with the final status the status query gives (Spec.ReportFinalStatus).

// NotificationChecker is an optional part of an API that keeps records of
// its own (Env.Host): HandleWebhook calls CheckNotification with each
// parsed notification before it reads the replay record, so that a
// notification that contradicts the records is refused even when its
// replay key was seen before (an amount the payment was not made for:
// payment.ErrAmountMismatch). Return nil to go on; an error is the
// webhook's answer as it is.
type NotificationChecker interface {
	CheckNotification(ctx context.Context, n *Notification) error
}

// awaitPoll is how often a create waiting for a concurrent one with the
// same idempotency key (Spec.AwaitCreate) reads its record again.
const awaitPoll = 100 * time.Millisecond

// await waits one poll, or until ctx is done.
func await(ctx context.Context) error {
	t := time.NewTimer(awaitPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
