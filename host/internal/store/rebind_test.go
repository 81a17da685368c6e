package store

import "testing"

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"a = '?' AND b = ?", "a = '?' AND b = $1"},
		{`"we?ird" = ?`, `"we?ird" = $1`},
	} {
		if got := rebind(Postgres, tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := rebind(SQLite, tt.in); got != tt.in {
			t.Errorf("rebind for SQLite changed %q to %q", tt.in, got)
		}
	}
}
