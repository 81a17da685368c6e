package audit

import (
	"testing"
	"time"
)

// The golden hashes were computed outside Go from ChainHash's documented
// encoding (Python's hashlib and struct.pack(">Q", len)), so a verifier in
// another language that follows the documentation gets the same hashes.
const (
	goldenFirst  = "c52d9bc77d6f9e27bda0554da27234fec6675b18b389ab15bd82e224021939a8"
	goldenSecond = "59ecae6f43b6c32fbfaaa796815ee221810454b3e720b18e4956c4eb21188177"
)

func TestChainHashGolden(t *testing.T) {
	first := fullEvent
	if got := ChainHash("", first); got != goldenFirst {
		t.Errorf("ChainHash(\"\", first) = %s, want %s", got, goldenFirst)
	}
	second := Event{ID: "evt-2", Actor: "system", Action: "plugin.restart"}
	if got := ChainHash(goldenFirst, second); got != goldenSecond {
		t.Errorf("ChainHash(first, second) = %s, want %s", got, goldenSecond)
	}
}

func TestChainHashEveryFieldCounts(t *testing.T) {
	base := fullEvent
	base.Metadata = map[string]string{"method": "QRIS", "amount": "150000"}
	baseHash := ChainHash("prev", base)

	tests := []struct {
		name   string
		prev   string
		modify func(e *Event)
	}{
		{name: "prevHash", prev: "prev2"},
		{name: "no prevHash", prev: ""},
		{name: "ID", modify: func(e *Event) { e.ID = "evt-2" }},
		{name: "Time", modify: func(e *Event) { e.Time = e.Time.Add(time.Nanosecond) }},
		{name: "zero Time", modify: func(e *Event) { e.Time = time.Time{} }},
		{name: "Actor", modify: func(e *Event) { e.Actor = "admin-8" }},
		{name: "Action", modify: func(e *Event) { e.Action = "invoice.voided" }},
		{name: "ResourceType", modify: func(e *Event) { e.ResourceType = "payment" }},
		{name: "ResourceID", modify: func(e *Event) { e.ResourceID = "43" }},
		{name: "Outcome", modify: func(e *Event) { e.Outcome = OutcomeFailure }},
		{name: "RemoteAddr", modify: func(e *Event) { e.RemoteAddr = "203.0.113.10:51234" }},
		{name: "RequestID", modify: func(e *Event) { e.RequestID = "req-abd" }},
		{name: "metadata value", modify: func(e *Event) { e.Metadata = map[string]string{"method": "QRIS", "amount": "150001"} }},
		{name: "metadata key", modify: func(e *Event) { e.Metadata = map[string]string{"method": "QRIS", "amounts": "150000"} }},
		{name: "metadata entry added", modify: func(e *Event) {
			e.Metadata = map[string]string{"method": "QRIS", "amount": "150000", "note": ""}
		}},
		{name: "metadata entry removed", modify: func(e *Event) { e.Metadata = map[string]string{"method": "QRIS"} }},
		{name: "no metadata", modify: func(e *Event) { e.Metadata = nil }},

		// Bytes moved across a field boundary must not hash alike.
		{name: "boundary actor/action", modify: func(e *Event) { e.Actor, e.Action = "admin-7i", "nvoice.paid" }},
		{name: "boundary resource type/id", modify: func(e *Event) { e.ResourceType, e.ResourceID = "invoice4", "2" }},
		{name: "boundary metadata key/value", modify: func(e *Event) {
			e.Metadata = map[string]string{"method": "QRIS", "amount1": "50000"}
		}},
		{name: "boundary request id/metadata", modify: func(e *Event) {
			e.RequestID = ""
			e.Metadata = map[string]string{"req-abc": "", "method": "QRIS", "amount": "150000"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			if tt.modify != nil {
				tt.modify(&e)
			}
			prev := "prev"
			if tt.modify == nil {
				prev = tt.prev
			}
			if got := ChainHash(prev, e); got == baseHash {
				t.Errorf("changing %s left the hash at %s", tt.name, got)
			}
		})
	}
}

func TestChainHashIgnores(t *testing.T) {
	base := fullEvent
	want := ChainHash("prev", base)

	tests := []struct {
		name   string
		modify func(e *Event)
	}{
		{name: "Sequence", modify: func(e *Event) { e.Sequence = 99 }},
		{name: "Hash", modify: func(e *Event) { e.Hash = "" }},
		{name: "PrevHash", modify: func(e *Event) { e.PrevHash = "other" }},
		{name: "time zone", modify: func(e *Event) { e.Time = e.Time.In(time.FixedZone("WIB", 7*3600)) }},
		{name: "metadata insertion order", modify: func(e *Event) {
			m := map[string]string{}
			m["amount"] = "150000"
			m["method"] = "QRIS"
			e.Metadata = m
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			e.Metadata = map[string]string{"method": "QRIS", "amount": "150000"}
			tt.modify(&e)
			if got := ChainHash("prev", e); got != want {
				t.Errorf("changing %s changed the hash to %s, want %s", tt.name, got, want)
			}
		})
	}
}

func TestChainHashMonotonic(t *testing.T) {
	// time.Now carries a monotonic clock reading; it must not count.
	now := time.Now()
	e := Event{ID: "evt", Actor: "system", Action: "test", Time: now}
	want := ChainHash("", e)
	e.Time = now.Round(0)
	if got := ChainHash("", e); got != want {
		t.Errorf("hash without the monotonic reading = %s, want %s", got, want)
	}
}

func TestChainHashMapOrder(t *testing.T) {
	// Go randomizes map iteration; with enough keys, hashing the same map
	// many times (and equal maps built in opposite orders) would show any
	// dependence on it.
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "A", "aa", "ab", "é", ""}
	forward := map[string]string{}
	for i, k := range keys {
		forward[k] = keys[len(keys)-1-i]
	}
	backward := map[string]string{}
	for i := len(keys) - 1; i >= 0; i-- {
		backward[keys[i]] = keys[len(keys)-1-i]
	}
	e := Event{ID: "evt", Actor: "system", Action: "test", Metadata: forward}
	want := ChainHash("", e)
	for i := range 50 {
		e.Metadata = forward
		if i%2 == 1 {
			e.Metadata = backward
		}
		if got := ChainHash("", e); got != want {
			t.Fatalf("hash %d of the same metadata = %s, want %s", i, got, want)
		}
	}
}

func TestChainHashChain(t *testing.T) {
	// A chain built with ChainHash breaks from the first changed event on.
	events := []Event{
		{ID: "1", Actor: "system", Action: "host.start"},
		{ID: "2", Actor: "admin-7", Action: "invoice.paid", ResourceType: "invoice", ResourceID: "42"},
		{ID: "3", Actor: "admin-7", Action: "user.disable", ResourceType: "user", ResourceID: "cust-0042"},
	}
	prev := ""
	for i := range events {
		events[i].PrevHash = prev
		events[i].Hash = ChainHash(prev, events[i])
		prev = events[i].Hash
	}
	events[1].ResourceID = "43"
	firstBad := 0
	for i, e := range events {
		if ChainHash(e.PrevHash, e) != e.Hash {
			firstBad = i + 1
			break
		}
	}
	if firstBad != 2 {
		t.Errorf("first bad event = %d, want 2", firstBad)
	}
}
