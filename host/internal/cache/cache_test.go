package cache

import (
	"context"
	"testing"
	"time"
)

func TestMemory(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	m := NewMemory(2)
	m.now = func() time.Time { return now }

	if _, found, _ := m.Get(ctx, "a"); found {
		t.Fatal("empty cache found a key")
	}
	if stored, _ := m.Set(ctx, "a", []byte("1"), time.Second, false); !stored {
		t.Fatal("Set did not store")
	}
	if stored, _ := m.Set(ctx, "a", []byte("2"), 0, true); stored {
		t.Fatal("Set with onlyIfAbsent replaced an existing key")
	}
	if v, found, _ := m.Get(ctx, "a"); !found || string(v) != "1" {
		t.Fatalf("Get(a) = %q, %v; want 1, true", v, found)
	}
	now = now.Add(time.Second)
	if _, found, _ := m.Get(ctx, "a"); found {
		t.Fatal("expired key still found")
	}
	if stored, _ := m.Set(ctx, "a", []byte("3"), 0, true); !stored {
		t.Fatal("Set with onlyIfAbsent refused an expired key")
	}

	// LRU bound: a is used, b is not; adding c evicts b.
	m.Set(ctx, "b", []byte("b"), 0, false)
	m.Get(ctx, "a")
	m.Set(ctx, "c", []byte("c"), 0, false)
	if _, found, _ := m.Get(ctx, "b"); found {
		t.Fatal("least recently used key was not evicted")
	}
	if _, found, _ := m.Get(ctx, "a"); !found {
		t.Fatal("recently used key was evicted")
	}
	if deleted, _ := m.Delete(ctx, "a"); !deleted {
		t.Fatal("Delete did not report an existing key")
	}
	if deleted, _ := m.Delete(ctx, "a"); deleted {
		t.Fatal("Delete reported a missing key")
	}
}
