package payment_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

func TestReplayRecords(t *testing.T) {
	ctx := context.Background()
	host := sdktest.NewFakeHost()
	rr := payment.ReplayRecords{Host: host, Prefix: "event:", TTL: time.Hour}

	if dup, err := rr.Check(ctx, "evt-1", "pay-A"); dup || err != nil {
		t.Fatalf("Check of an unknown id = %v, %v; want not a repeat", dup, err)
	}
	if dup, err := rr.Record(ctx, "evt-1", "pay-A"); dup || err != nil {
		t.Fatalf("first Record = %v, %v; want recorded", dup, err)
	}
	if v, found, _ := host.StoreGet(ctx, "event:evt-1"); !found || string(v) != "pay-A" {
		t.Errorf("the record is %q (found %v) in the durable store, want pay-A under event:evt-1", v, found)
	}
	for _, f := range []func(context.Context, string, string) (bool, error){rr.Check, rr.Record} {
		if dup, err := f(ctx, "evt-1", "pay-A"); !dup || err != nil {
			t.Errorf("the same id for the same payment = %v, %v; want a repeat, no error", dup, err)
		}
		dup, err := f(ctx, "evt-1", "pay-B")
		if dup || !errors.Is(err, payment.ErrReplay) || !strings.Contains(err.Error(), "pay-A") || !strings.Contains(err.Error(), "pay-B") {
			t.Errorf("the same id for another payment = %v, %v; want payment.ErrReplay naming both payments", dup, err)
		}
	}
	if err := rr.Forget(ctx, "evt-1"); err != nil {
		t.Fatal(err)
	}
	if dup, err := rr.Record(ctx, "evt-1", "pay-B"); dup || err != nil {
		t.Errorf("Record after Forget = %v, %v; want recorded afresh", dup, err)
	}

	// Records outlive neither their TTL nor anything else: expired, the id
	// is new again.
	now := time.Now()
	host.Now = func() time.Time { return now.Add(2 * time.Hour) }
	if dup, err := rr.Check(ctx, "evt-1", "pay-C"); dup || err != nil {
		t.Errorf("Check after the TTL = %v, %v; want not a repeat", dup, err)
	}
}

// TestReplayRecordsConcurrent: of deliveries at once, one records and the
// rest are repeats.
func TestReplayRecordsConcurrent(t *testing.T) {
	rr := payment.ReplayRecords{Host: sdktest.NewFakeHost(), Prefix: "event:", TTL: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	first, dups := 0, 0
	for range 16 {
		wg.Go(func() {
			dup, err := rr.Record(context.Background(), "evt-1", "pay-A")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case dup:
				dups++
			default:
				first++
			}
		})
	}
	wg.Wait()
	if first != 1 || dups != 15 {
		t.Errorf("%d recorded, %d repeats; want 1 and 15", first, dups)
	}
}

// TestReplayRecordsStoreDown: a store that does not answer is an error,
// never a verdict.
func TestReplayRecordsStoreDown(t *testing.T) {
	rr := payment.ReplayRecords{Host: downHost{sdktest.NewFakeHost()}, Prefix: "event:", TTL: time.Hour}
	if _, err := rr.Check(context.Background(), "evt-1", "pay-A"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("Check = %v, want sdk.ErrUnavailable", err)
	}
	if _, err := rr.Record(context.Background(), "evt-1", "pay-A"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("Record = %v, want sdk.ErrUnavailable", err)
	}
}

type downHost struct{ *sdktest.FakeHost }

func (downHost) StoreGet(context.Context, string) ([]byte, bool, error) {
	return nil, false, fmt.Errorf("%w: the database is restarting", sdk.ErrUnavailable)
}

func (downHost) StoreSet(context.Context, string, []byte, sdk.StoreSetOptions) (bool, error) {
	return false, fmt.Errorf("%w: the database is restarting", sdk.ErrUnavailable)
}

// A gateway's HandleWebhook checks the notification's replay record before
// the work a repeat may skip, and records it once every check passed.
func ExampleReplayRecords() {
	ctx := context.Background()
	replays := payment.ReplayRecords{Host: sdktest.NewFakeHost(), Prefix: "event:", TTL: 7 * 24 * time.Hour}
	handle := func(eventID, paymentID string) string {
		dup, err := replays.Check(ctx, eventID, paymentID)
		if err != nil {
			return "refused: " + err.Error()
		}
		if dup {
			return "reported again, marked Duplicate"
		}
		// ... confirm with the gateway's status API, compare the amount ...
		if dup, err = replays.Record(ctx, eventID, paymentID); err != nil {
			return "refused: " + err.Error()
		}
		return fmt.Sprintf("reported (duplicate: %v)", dup)
	}
	fmt.Println(handle("evt_1", "pay_A"))
	fmt.Println(handle("evt_1", "pay_A"))
	fmt.Println(handle("evt_1", "pay_B"))
	// Output:
	// reported (duplicate: false)
	// reported again, marked Duplicate
	// refused: notification id already used for another payment: notification evt_1 was about payment pay_A, this one names payment pay_B; it pays nothing
}
