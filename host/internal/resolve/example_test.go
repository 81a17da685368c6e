package resolve_test

import (
	"fmt"

	"github.com/mikrobill/mikrobill/host/internal/manifest"
	"github.com/mikrobill/mikrobill/host/internal/resolve"
)

func ExampleResolve() {
	plugins := []*manifest.Manifest{
		{Name: "audit", Version: "1.2.0", Priority: 100, Dependencies: []manifest.Dependency{{Name: "database"}}},
		{Name: "payment-midtrans", Version: "1.0.0", Priority: 50, Dependencies: []manifest.Dependency{{Name: "audit", Version: "^1.0"}}},
		{Name: "router-mikrotik", Version: "1.0.0", Priority: 100},
		{Name: "notify-whatsapp", Version: "1.0.0", Priority: 100, Dependencies: []manifest.Dependency{{Name: "sessions"}}},
	}
	plan := resolve.Resolve(plugins, resolve.Options{
		Capabilities: map[string]bool{"database": true, "cache": true},
		Unavailable:  map[string]string{"sessions": "not loaded in environment production"},
	})
	for i, level := range plan.Levels {
		fmt.Print("level ", i, ":")
		for _, m := range level {
			fmt.Print(" ", m.Name)
		}
		fmt.Println()
	}
	for _, s := range plan.Skipped {
		fmt.Println("skipped:", s.Err)
	}
	fmt.Println("shutdown:", plan.ReverseOrder())
	// Output:
	// level 0: audit router-mikrotik
	// level 1: payment-midtrans
	// skipped: plugin "notify-whatsapp" cannot load: it depends on "sessions", which will not load: not loaded in environment production (chain: notify-whatsapp -> sessions)
	// shutdown: [payment-midtrans router-mikrotik audit]
}
