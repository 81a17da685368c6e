package pluginstall_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/pluginstall"
)

// TestOffering: an install that names no source takes the one trusted
// source offering the plugin; none, or several, is refused saying what
// to do.
func TestOffering(t *testing.T) {
	a := source(t, tp{Name: "pa"})
	b := source(t, tp{Name: "pa"}, tp{Name: "pb"})
	in := func(srcs ...pluginstall.Source) *pluginstall.Installer {
		return pluginstall.New(pluginstall.Config{Dir: t.TempDir(), HostVersion: "1.0.0",
			Sources: func(context.Context) ([]pluginstall.Source, error) { return srcs, nil }})
	}
	ctx := context.Background()
	if src, err := in(a, b).Offering(ctx, "pb"); err != nil || src.Name() != b.Name() {
		t.Errorf("pb offered by one source: %v, %v", src, err)
	}
	for _, c := range []struct {
		name string
		in   *pluginstall.Installer
		is   error
		says []string
	}{
		{"pa", in(a, b), pluginstall.ErrRefused, []string{a.Name(), b.Name(), "--source"}},
		{"pc", in(a, b), pluginstall.ErrNotFound, []string{"no trusted marketplace offers plugin \"pc\"", "plugin search"}},
		{"pa", in(), pluginstall.ErrNotFound, []string{"marketplace add", "--from"}},
	} {
		_, err := c.in.Offering(ctx, c.name)
		if !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", c.name, err, s)
			}
		}
	}
}
