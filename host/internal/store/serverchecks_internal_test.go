package store

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestAutovacuumWarning(t *testing.T) {
	if w := autovacuumWarning("on"); w != "" {
		t.Errorf("autovacuum on: warning %q, want none", w)
	}
	w := autovacuumWarning("off")
	for _, want := range []string{"autovacuum is off", "autovacuum = on", "VACUUM ANALYZE"} {
		if !strings.Contains(w, want) {
			t.Errorf("autovacuum off: warning %q does not say %q", w, want)
		}
	}
}

// TestServerWarningsReadTheServer checks ServerWarnings against what the
// server itself says: the test machines' PostgreSQL runs with autovacuum
// off, a default installation with it on; either way the warning must
// match the setting.
func TestServerWarningsReadTheServer(t *testing.T) {
	ctx := context.Background()
	sq, err := Open(ctx, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	if w, err := sq.ServerWarnings(ctx); err != nil || len(w) != 0 {
		t.Errorf("SQLite: warnings %q, %v; want none", w, err)
	}
	url := os.Getenv("MIKROBILL_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("MIKROBILL_TEST_POSTGRES_URL is not set: the PostgreSQL half of this test is skipped (CI sets it)")
	}
	pg, err := Open(ctx, Options{URL: url, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var setting string
	if err := pg.pool.QueryRow(ctx, `SHOW autovacuum`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	w, err := pg.ServerWarnings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(w) == 1 && strings.Contains(w[0], "autovacuum is off"); got != (setting == "off") {
		t.Errorf("autovacuum = %s: warnings %q", setting, w)
	}
}
