package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/sdk/notify"
)

func TestNormalizePhone(t *testing.T) {
	ok := []struct{ in, region, want string }{
		{"081234567890", "ID", "6281234567890"},
		{"0812-3456-7890", "ID", "6281234567890"},
		{"0812 3456 7890", "ID", "6281234567890"},
		{"0812.3456.7890", "ID", "6281234567890"},
		{"(0812) 3456-7890", "ID", "6281234567890"},
		{"+6281234567890", "ID", "6281234567890"},
		{"+62 812-3456-7890", "ID", "6281234567890"},
		{"6281234567890", "ID", "6281234567890"},
		{"006281234567890", "ID", "6281234567890"},
		{"81234567890", "ID", "6281234567890"},
		{"+6281234567890", "US", "6281234567890"},
		{"+1 (202) 555-0143", "ID", "12025550143"},
		{"020 7946 0958", "GB", "442079460958"},
		{" +44 20 7946 0958 ", "ID", "442079460958"},
	}
	for _, c := range ok {
		got, err := NormalizePhone(c.in, c.region)
		if err != nil || got != c.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v; want %q", c.in, c.region, got, err, c.want)
		}
	}
	bad := []struct{ in, region, says string }{
		{"", "ID", "no digits"},
		{"abc", "ID", "not a digit"},
		{"0812-3456-789x", "ID", "not a digit"},
		{"12345", "ID", "too short"},
		{"+1234567890123456789", "ID", "too long"},
		{"+620000000000", "ID", "not a valid number"},
		{"0000", "ID", "too short"},
		{"99999999999", "ID", "neither international nor local to ID"},
		{"62+81234567890", "ID", "not a digit"},
	}
	for _, c := range bad {
		got, err := NormalizePhone(c.in, c.region)
		if err == nil {
			t.Errorf("NormalizePhone(%q) = %q, want an error", c.in, got)
			continue
		}
		if !errors.Is(err, notify.ErrInvalidRecipient) {
			t.Errorf("NormalizePhone(%q): %v does not wrap ErrInvalidRecipient", c.in, err)
		}
		if !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "+6281234567890") {
			t.Errorf("NormalizePhone(%q): %q should say %q and show an example", c.in, err, c.says)
		}
	}
}
