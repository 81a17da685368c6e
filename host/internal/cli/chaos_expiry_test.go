//go:build chaos

package cli

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// TestChaosLeaderKilledWhileExpiryRuns: three hosts; 100 customers pay
// for a plan that lasts 15 seconds, over about 4 seconds. When the
// subscriptions start to expire (the first login moved to the isolation
// profile on the router), the leader (River's, which runs the expiry
// scan every second) is SIGKILLed and started again; 3 seconds later the
// leader of that moment is (often the same host again: River gives the
// lease back to a host of the same id as soon as it is up). Every payment is credited once and
// provisioned; every subscription ends isolated, once: one
// "subscription.isolated" audit event each, one isolation command each on
// the router, its expiry message sent; no job is stranded.
func TestChaosLeaderKilledWhileExpiryRuns(t *testing.T) {
	r := newChaosRig(t, 80*time.Second)
	r.setUp(15 * time.Second)
	r.addHost()
	r.addHost()
	invs := r.invoices(100)
	res := r.load(invs, 8, 300*time.Millisecond)
	res.check(t)
	st := r.openStore()

	isolated := func() int {
		n := 0
		for _, inv := range invs {
			if row, ok := r.rt.Find("/ppp/secret", inv.customer); ok && row["profile"] == "isolir" {
				n++
			}
		}
		return n
	}
	r.waitFor("the first subscription's isolation", func() bool { return isolated() > 0 })
	for kill := range 2 {
		if kill > 0 {
			time.Sleep(3 * time.Second)
		}
		leader := r.leader(st)
		t.Logf("kill %d: %d of %d isolated; SIGKILL the leader, %s", kill+1, isolated(), len(invs), leader.id)
		r.kill(leader)
		go r.start(leader)
	}
	r.waitFor("every subscription's isolation", func() bool { return isolated() == len(invs) })
	r.settle(st)
	checkCreditedOnce(t, st, invs)
	r.checkIsolatedOnce(st, invs)
}

// leader is the host River elected (its client id is the host id); it
// waits until there is one that runs.
func (r *chaosRig) leader(st *store.Store) *chaosHost {
	r.t.Helper()
	var found *chaosHost
	r.waitFor("a leader among the running hosts", func() bool {
		var id string
		if err := st.Pool().QueryRow(context.Background(), `SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id); err != nil {
			return false
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, h := range r.hosts {
			if h.id == id && h.up() != "" {
				found = h
				return true
			}
		}
		return false
	})
	return found
}

// checkIsolatedOnce fails unless every invoice's subscription is isolated
// with one audit event, its login moved to the isolation profile by one
// command on the router, and its expiry message sent.
func (r *chaosRig) checkIsolatedOnce(st *store.Store, invs []paidInvoice) {
	r.t.Helper()
	ctx := context.Background()
	sets := map[string]int{} // isolation commands by router entry id
	for _, c := range r.rt.Commands() {
		if c.Word == "/ppp/secret/set" && c.Attrs["profile"] == "isolir" {
			sets[c.Attrs[".id"]]++
		}
	}
	sent := r.sent()
	for _, inv := range invs {
		var sub int64
		var status string
		var expiresAt int64
		if err := st.Pool().QueryRow(ctx, `SELECT s.id, s.status, s.expires_at FROM subscriptions s JOIN invoices i ON i.customer_id = s.customer_id
			WHERE i.id = $1`, inv.id).Scan(&sub, &status, &expiresAt); err != nil {
			r.t.Errorf("invoice %s's subscription: %v", inv.number, err)
			continue
		}
		var events int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'subscription.isolated' AND resource_id = $1`,
			strconv.FormatInt(sub, 10)).Scan(&events); err != nil {
			r.t.Fatal(err)
		}
		row, _ := r.rt.Find("/ppp/secret", inv.customer)
		key := "expired-" + strconv.FormatInt(sub, 10) + "-" + strconv.FormatInt(expiresAt, 10)
		if status != store.SubscriptionIsolated || events != 1 || sets[row[".id"]] != 1 || sent[key] == 0 {
			r.t.Errorf("subscription %d (%s): %s, %d isolated events, isolated %d times on the router, expiry message sent %d times; want isolated, once, its message sent",
				sub, inv.customer, status, events, sets[row[".id"]], sent[key])
		}
	}
}
