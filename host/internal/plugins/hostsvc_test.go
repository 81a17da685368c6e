package plugins

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/mikrobill/mikrobill/host/internal/cache"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/sdk"
	"github.com/mikrobill/mikrobill/sdk/payment"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

const day = 24 * time.Hour

// outcome is what one key-value call came to: stored (or found, deleted),
// or the error's message and whether it is sdk.ErrInvalidArgument.
type outcome struct {
	OK      bool
	Invalid bool
	Err     string
}

func outcomeOf(ok bool, err error) outcome {
	if err != nil {
		return outcome{Invalid: errors.Is(err, sdk.ErrInvalidArgument), Err: err.Error()}
	}
	return outcome{OK: ok}
}

// kvCall is one call of the table, made on any sdk.Host.
type kvCall struct {
	name string
	do   func(ctx context.Context, h sdk.Host) outcome
	// want is the outcome both must come to.
	want outcome
	// hint, when set, is a phrase the refusal must hold.
	hint string
}

func storeSet(key string, value []byte, ttl time.Duration, onlyIfAbsent bool) func(context.Context, sdk.Host) outcome {
	return func(ctx context.Context, h sdk.Host) outcome {
		return outcomeOf(h.StoreSet(ctx, key, value, sdk.StoreSetOptions{TTL: ttl, OnlyIfAbsent: onlyIfAbsent}))
	}
}

func cacheSet(key string, value []byte, ttl time.Duration, onlyIfAbsent bool) func(context.Context, sdk.Host) outcome {
	return func(ctx context.Context, h sdk.Host) outcome {
		return outcomeOf(h.CacheSet(ctx, key, value, sdk.CacheSetOptions{TTL: ttl, OnlyIfAbsent: onlyIfAbsent}))
	}
}

// TestHostLimitsMatchSDKTest: the host's key-value service and sdktest's
// FakeHost (which the plugins' tests and the conformance kit run on) come to
// the same outcome, refusal message included, for the same keys, values and
// TTLs in both namespaces. A 90-day TTL (payment-tripay's records) is taken
// by the durable store and refused by the cache with a pointer to
// StoreSet.
func TestHostLimitsMatchSDKTest(t *testing.T) {
	okRefused := func(refused bool) outcome { return outcome{OK: !refused} }
	key512 := strings.Repeat("k", sdk.MaxKeyBytes)
	key513 := strings.Repeat("k", sdk.MaxKeyBytes+1)
	mib := bytes.Repeat([]byte{'v'}, sdk.MaxValueBytes)
	overMiB := bytes.Repeat([]byte{'v'}, sdk.MaxValueBytes+1)
	invalid := outcome{Invalid: true}
	calls := []kvCall{
		{name: "store: a record", do: storeSet("idem/1", []byte("x"), 0, false), want: okRefused(false)},
		{name: "store: 90-day TTL", do: storeSet("idem/90d", []byte("x"), 90*day, false), want: okRefused(false)},
		{name: "store: 400-day TTL", do: storeSet("idem/400d", []byte("x"), sdk.MaxStoreTTL, false), want: okRefused(false)},
		{name: "store: TTL over 400 days", do: storeSet("idem/401d", []byte("x"), sdk.MaxStoreTTL+time.Nanosecond, false), want: invalid},
		{name: "store: negative TTL", do: storeSet("idem/neg", nil, -time.Second, false), want: invalid},
		{name: "store: empty key", do: storeSet("", []byte("x"), 0, false), want: invalid},
		{name: "store: 512-byte key", do: storeSet(key512, []byte("x"), 0, false), want: okRefused(false)},
		{name: "store: 513-byte key", do: storeSet(key513, []byte("x"), 0, false), want: invalid},
		{name: "store: 1 MiB value", do: storeSet("big", mib, 0, false), want: okRefused(false)},
		{name: "store: value over 1 MiB", do: storeSet("bigger", overMiB, 0, false), want: invalid},
		{name: "store: set if absent, new", do: storeSet("lock", []byte("a"), time.Hour, true), want: okRefused(false)},
		{name: "store: set if absent, taken", do: storeSet("lock", []byte("b"), time.Hour, true), want: okRefused(true)},
		{name: "store: get", do: func(ctx context.Context, h sdk.Host) outcome {
			v, found, err := h.StoreGet(ctx, "lock")
			return outcomeOf(found && string(v) == "a", err)
		}, want: okRefused(false)},
		{name: "store: get a 513-byte key", do: func(ctx context.Context, h sdk.Host) outcome {
			_, found, err := h.StoreGet(ctx, key513)
			return outcomeOf(found, err)
		}, want: invalid},
		{name: "store: delete", do: func(ctx context.Context, h sdk.Host) outcome {
			return outcomeOf(h.StoreDelete(ctx, "lock"))
		}, want: okRefused(false)},
		{name: "store: delete again", do: func(ctx context.Context, h sdk.Host) outcome {
			return outcomeOf(h.StoreDelete(ctx, "lock"))
		}, want: okRefused(true)},
		{name: "store: delete an empty key", do: func(ctx context.Context, h sdk.Host) outcome {
			return outcomeOf(h.StoreDelete(ctx, ""))
		}, want: invalid},
		{name: "store: not in the cache", do: func(ctx context.Context, h sdk.Host) outcome {
			_, found, err := h.CacheGet(ctx, "idem/1")
			return outcomeOf(found, err)
		}, want: okRefused(true)},

		{name: "cache: a value", do: cacheSet("rate", []byte("x"), time.Minute, false), want: okRefused(false)},
		{name: "cache: 30-day TTL", do: cacheSet("rate/30d", []byte("x"), sdk.MaxCacheTTL, false), want: okRefused(false)},
		{name: "cache: 90-day TTL", do: cacheSet("idem/90d", []byte("x"), 90*day, false), want: invalid, hint: "belong in the durable store (StoreSet)"},
		{name: "cache: TTL over 400 days", do: cacheSet("idem/401d", []byte("x"), sdk.MaxStoreTTL+day, false), want: invalid},
		{name: "cache: negative TTL", do: cacheSet("neg", nil, -time.Second, false), want: invalid},
		{name: "cache: empty key", do: cacheSet("", []byte("x"), 0, false), want: invalid},
		{name: "cache: 513-byte key", do: cacheSet(key513, []byte("x"), 0, false), want: invalid},
		{name: "cache: value over 1 MiB", do: cacheSet("bigger", overMiB, 0, false), want: invalid},
		{name: "cache: set if absent, taken", do: cacheSet("rate", []byte("y"), 0, true), want: okRefused(true)},
		{name: "cache: deprecated KVSet, 90-day TTL", do: func(ctx context.Context, h sdk.Host) outcome {
			return outcomeOf(h.KVSet(ctx, "idem/kv", []byte("x"), sdk.KVSetOptions{TTL: 90 * day}))
		}, want: invalid, hint: "durable store"},
		{name: "cache: not in the store", do: func(ctx context.Context, h sdk.Host) outcome {
			_, found, err := h.StoreGet(ctx, "rate")
			return outcomeOf(found, err)
		}, want: okRefused(true)},
	}

	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		host := &hostService{plugin: "payment-test", cache: cache.NewMemory(0), store: st}
		fake := sdktest.NewFakeHost()
		for _, c := range calls {
			got, want := c.do(ctx, host), c.do(ctx, fake)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: the host and sdktest.FakeHost differ (-FakeHost +host):\n%s", c.name, diff)
			}
			if got.OK != c.want.OK || got.Invalid != c.want.Invalid || (c.want.Invalid && got.Err == "") {
				t.Errorf("%s: host outcome %+v; want %+v", c.name, got, c.want)
			}
			if c.hint != "" && !strings.Contains(got.Err, c.hint) {
				t.Errorf("%s: the refusal %q does not say %q", c.name, got.Err, c.hint)
			}
		}

		// StoreList: same entries, same clamping of the limit.
		for _, h := range []sdk.Host{host, fake} {
			for _, k := range []string{"list/a", "list/b", "list/c", "list%x", "list_y"} {
				if _, err := h.StoreSet(ctx, k, []byte(k), sdk.StoreSetOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, c := range []struct {
			prefix, after string
			limit         int
		}{{"list/", "", 0}, {"list/", "list/a", 1}, {"list/", "", 5000}, {"list%", "", -1}, {"list_", "", 10}, {"", "list/c", 2}} {
			got, err := host.StoreList(ctx, c.prefix, c.after, c.limit)
			if err != nil {
				t.Fatalf("host StoreList(%+v): %v", c, err)
			}
			want, _ := fake.StoreList(ctx, c.prefix, c.after, c.limit)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("StoreList(%q, %q, %d): the host and sdktest.FakeHost differ (-FakeHost +host):\n%s", c.prefix, c.after, c.limit, diff)
			}
		}
	})
}

// TestHostStoreDurable: what a plugin stores is in the host's database:
// another hostService on the same database (a restarted host, another host
// of the cluster) reads it, another plugin does not, and dropping the cache
// loses nothing.
func TestHostStoreDurable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		first := &hostService{plugin: "payment-a", cache: cache.NewMemory(0), store: st}
		if stored, err := first.StoreSet(ctx, "idem/k", []byte("order-1"), sdk.StoreSetOptions{TTL: 90 * day, OnlyIfAbsent: true}); err != nil || !stored {
			t.Fatalf("StoreSet = %t, %v", stored, err)
		}
		restarted := &hostService{plugin: "payment-a", cache: cache.NewMemory(0), store: st}
		if v, found, err := restarted.StoreGet(ctx, "idem/k"); err != nil || !found || string(v) != "order-1" {
			t.Errorf("after a restart StoreGet = %q, %t, %v; want order-1", v, found, err)
		}
		if stored, err := restarted.StoreSet(ctx, "idem/k", []byte("order-2"), sdk.StoreSetOptions{OnlyIfAbsent: true}); err != nil || stored {
			t.Errorf("after a restart StoreSet(OnlyIfAbsent) of a taken key = %t, %v; want not stored", stored, err)
		}
		other := &hostService{plugin: "payment-b", cache: cache.NewMemory(0), store: st}
		if _, found, err := other.StoreGet(ctx, "idem/k"); err != nil || found {
			t.Errorf("another plugin reads payment-a's record: %t, %v", found, err)
		}
	})
}

// TestHostStoreUnavailable: a database that does not answer is
// sdk.ErrUnavailable (gRPC Unavailable: the plugin may retry), not an
// internal error; so is a host without a database.
func TestHostStoreUnavailable(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	st.Close()
	for name, h := range map[string]*hostService{
		"closed database": {plugin: "payment-a", cache: cache.NewMemory(0), store: st},
		"no database":     {plugin: "payment-a", cache: cache.NewMemory(0)},
	} {
		_, _, getErr := h.StoreGet(ctx, "k")
		_, setErr := h.StoreSet(ctx, "k", []byte("v"), sdk.StoreSetOptions{OnlyIfAbsent: true})
		_, delErr := h.StoreDelete(ctx, "k")
		_, listErr := h.StoreList(ctx, "", "", 0)
		for op, err := range map[string]error{"StoreGet": getErr, "StoreSet": setErr, "StoreDelete": delErr, "StoreList": listErr} {
			if !errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("%s: %s: %v; want sdk.ErrUnavailable", name, op, err)
			}
			// The first sentinel in the chain is the gRPC code it crosses with.
			var coded interface{ Code() codes.Code }
			if !errors.As(err, &coded) || coded.Code() != codes.Unavailable {
				t.Errorf("%s: %s: %v does not cross gRPC as Unavailable", name, op, err)
			}
		}
	}

	// The caller's own deadline stays a deadline.
	live := &hostService{plugin: "payment-a", cache: cache.NewMemory(0), store: storetest.SQLite(t)}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := live.StoreGet(cctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("StoreGet with a cancelled context: %v; want context.Canceled", err)
	}
}

// TestHostStoreThroughAPlugin: a plugin process reaches the durable store
// through the go-plugin broker and the host's real limits: a 90-day record
// (payment-tripay keeps its records that long) lands in the host's
// database, the same TTL in the cache is refused with a pointer to
// StoreSet, and a key claimed in the store stays claimed.
func TestHostStoreThroughAPlugin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.store = storetest.SQLite(t)
	f.Add(tp{Name: "probe", Kind: "payment"})
	m, err := f.start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	p, _ := m.Plugin("probe")
	gw, err := p.Payment()
	if err != nil {
		t.Fatal(err)
	}
	create := func(key string, meta map[string]string) error {
		_, err := gw.CreatePayment(ctx, &payment.CreatePaymentRequest{
			OrderID: "INV-1", Amount: payment.Money{Amount: 150000, Currency: "IDR"}, IdempotencyKey: key, Metadata: meta,
		})
		return err
	}

	if err := create("k-store", map[string]string{"store_ttl": "2160h"}); err != nil {
		t.Fatalf("a 90-day record in the durable store: %v", err)
	}
	if v, err := f.store.Q().GetPluginRecord(ctx, "probe", "idem/k-store"); err != nil || string(v) != "INV-1" {
		t.Errorf("the plugin's record in the database = %q, %v; want INV-1", v, err)
	}
	if err := create("k-store", map[string]string{"store_ttl": "2160h"}); !errors.Is(err, sdk.ErrAlreadyExists) {
		t.Errorf("claiming the key again: %v; want it taken (sdk.ErrAlreadyExists)", err)
	}
	err = create("k-cache", map[string]string{"cache_ttl": "2160h"})
	if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "durable store (StoreSet)") {
		t.Errorf("a 90-day entry in the cache: %v; want sdk.ErrInvalidArgument pointing at StoreSet", err)
	}
	if err := create("k-cache", map[string]string{"cache_ttl": "1h"}); err != nil {
		t.Errorf("an hour in the cache: %v", err)
	}
}
