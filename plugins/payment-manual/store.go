package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/mikrobill/mikrobill/sdk/payment"
)

// store keeps payments in a JSON file in the plugin's data directory, written
// atomically (temporary file, fsync, rename) on every change, so a payment is
// never lost when the plugin or the host restarts.
type store struct {
	mu   sync.Mutex
	path string
	data storeData
}

type storeData struct {
	Payments map[string]*payment.Payment `json:"payments"`
	// ByKey maps idempotency keys to payment ids.
	ByKey map[string]string `json:"by_key"`
	// Events holds the ids of confirmations already handled (replay guard).
	Events map[string]string `json:"events"`
}

func openStore(dir string) (*store, error) {
	s := &store{data: storeData{Payments: map[string]*payment.Payment{}, ByKey: map[string]string{}, Events: map[string]string{}}}
	if dir == "" {
		return s, nil // in memory: tests without a data directory
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	s.path = filepath.Join(dir, "payments.json")
	raw, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	if err := json.Unmarshal(raw, &s.data); err != nil {
		return nil, fmt.Errorf("read %s: %w; restore it from a backup or move it away to start empty", s.path, err)
	}
	for _, m := range []*map[string]string{&s.data.ByKey, &s.data.Events} {
		if *m == nil {
			*m = map[string]string{}
		}
	}
	if s.data.Payments == nil {
		s.data.Payments = map[string]*payment.Payment{}
	}
	return s, nil
}

// update runs fn under the lock and saves when fn changed something.
func (s *store) update(fn func(d *storeData) (changed bool, err error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed, err := fn(&s.data)
	if err != nil || !changed || s.path == "" {
		return err
	}
	return s.save()
}

func (s *store) view(fn func(d *storeData)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.data)
}

func (s *store) save() error {
	raw, err := json.MarshalIndent(&s.data, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".payments-*.json")
	if err != nil {
		return fmt.Errorf("save payments: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("save payments: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save payments: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save payments: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("save payments: %w", err)
	}
	return nil
}

// list returns copies of all payments, newest first.
func (s *store) list() []payment.Payment {
	var out []payment.Payment
	s.view(func(d *storeData) {
		for _, p := range d.Payments {
			out = append(out, *p)
		}
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}
