package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/billing"
	"github.com/mikrobill/mikrobill/host/internal/config"
	"github.com/mikrobill/mikrobill/host/internal/jobs"
	"github.com/mikrobill/mikrobill/host/internal/metrics"
	"github.com/mikrobill/mikrobill/host/internal/plugins"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
	"github.com/mikrobill/mikrobill/host/internal/testutil"
	"github.com/mikrobill/mikrobill/sdk/router"
	"github.com/mikrobill/mikrobill/sdk/sdktest"
)

// TestRoutersPageReportsAndGuardsRepair: the routers page shows the
// comparison (12 orphans at a location whose store side is empty); a
// repair without "allow removals" is refused (409), shows the plan and
// removes nothing; allowing 12 repairs; viewers and operators may not
// repair, viewers may not see the report.
func TestRoutersPageReportsAndGuardsRepair(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	rt := &leftoverRouter{logins: map[string]bool{}}
	for i := range 12 {
		rt.logins[fmt.Sprintf("cust-%02d", i)] = true
	}
	svc, err := billing.NewWithQueue(db, nil, testutil.Plugins{Routers: map[string]router.Router{"mikrotik": sdktest.Serve(t, rt).Router()}}, billing.Config{}, nil, billing.QueueConfig{Jobs: jobs.Config{PollInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := auth.New(auth.Options{DB: db, JWTSecret: "0123456789abcdef0123456789abcdef", Params: &cheapParams})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.DataDir, cfg.Plugins.Dir = t.TempDir(), t.TempDir()
	pm := plugins.New(cfg, plugins.Deps{HostVersion: "1.0.0"})
	h := New(Deps{Config: cfg, Metrics: metrics.New(), DB: db, Plugins: pm, Accounts: acc, Auth: roleHeaderAuth{}, Billing: svc}).Handler()
	if err := db.Q().CreateLocation(ctx, &store.Location{Name: "main"}); err != nil {
		t.Fatal(err)
	}

	code, body := page(t, h, http.MethodGet, "/routers", RoleOperator, nil, false)
	if code != http.StatusOK || strings.Count(body, `data-problem="orphan"`) != 12 || !strings.Contains(body, "cust-07") || !strings.Contains(body, `data-location="main"`) {
		t.Fatalf("GET /routers: %d; want the 12 orphans at main:\n%.3000s", code, body)
	}
	if strings.Contains(body, `id="repair-form"`) {
		t.Error("an operator sees the repair form")
	}
	if code, _ := page(t, h, http.MethodGet, "/routers", RoleViewer, nil, false); code != http.StatusForbidden {
		t.Errorf("a viewer's GET /routers: %d, want 403", code)
	}
	if code, _ := page(t, h, http.MethodGet, "/routers?location=nowhere", RoleOperator, nil, false); code != http.StatusNotFound {
		t.Errorf("GET /routers of an unknown location: %d, want 404", code)
	}
	_, body = page(t, h, http.MethodGet, "/routers", RoleAdmin, nil, false)
	if !strings.Contains(body, `id="repair-form"`) || !strings.Contains(body, `<label for="allow_removals">`) {
		t.Error("an admin does not see the repair form with its labelled field")
	}

	for _, role := range []string{RoleViewer, RoleOperator} {
		if code, _ := page(t, h, http.MethodPost, "/routers/sync", role, url.Values{"allow_removals": {"12"}}, false); code != http.StatusForbidden {
			t.Errorf("a %s's repair: %d, want 403", role, code)
		}
	}
	if n := rt.count(); n != 12 {
		t.Fatalf("a refused role removed logins: %d left of 12", n)
	}

	for _, allow := range []string{"", "11"} {
		code, body := page(t, h, http.MethodPost, "/routers/sync", RoleAdmin, url.Values{"location": {"main"}, "allow_removals": {allow}}, false)
		if code != http.StatusConflict || !strings.Contains(body, `role="alert"`) || strings.Count(body, `data-problem="orphan"`) != 12 {
			t.Errorf("a repair allowing %q removals: %d; want 409 with the plan of 12 removals:\n%.3000s", allow, code, body)
		}
		if n := rt.count(); n != 12 {
			t.Fatalf("a refused repair removed logins: %d left of 12", n)
		}
	}
	if code, body := page(t, h, http.MethodPost, "/routers/sync", RoleAdmin, url.Values{"allow_removals": {"-1"}}, false); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="allow_removals-err"`) {
		t.Errorf("allow removals -1: %d; want 422 with the error next to the field:\n%.2000s", code, body)
	}
	if n := rt.count(); n != 12 {
		t.Fatalf("a refused form removed logins: %d left of 12", n)
	}
	code, body = page(t, h, http.MethodPost, "/routers/sync", RoleAdmin, url.Values{"location": {"main"}, "allow_removals": {"12"}}, false)
	if code != http.StatusOK || !strings.Contains(body, `role="status"`) || strings.Count(body, "data-problem=") != 12 {
		t.Errorf("a repair allowing 12 removals: %d:\n%.3000s", code, body)
	}
	if n := rt.count(); n != 0 {
		t.Errorf("after the allowed repair %d logins are left, want 0", n)
	}
}
