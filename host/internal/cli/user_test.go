package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// runIn runs the command line with stdin and returns its error and output.
func runIn(t *testing.T, environ []string, stdin string, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{stdout: &out, stderr: &errb, environ: environ}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.ExecuteContext(context.Background())
	return err, out.String(), errb.String()
}

// eachDatabase runs fn with the environment of a host on a fresh SQLite
// data directory and, when MIKROBILL_TEST_POSTGRES_URL is set, on a fresh
// PostgreSQL database; open opens that database for checks.
func eachDatabase(t *testing.T, fn func(t *testing.T, environ []string, open func() *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, []string{"MIKROBILL_DATA_DIR=" + dir}, func() *store.Store {
			st, err := store.Open(context.Background(), store.Options{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(storetest.EnvPostgres) == "" {
			t.Skipf("%s is not set", storetest.EnvPostgres)
		}
		url := storetest.PostgresURL(t)
		fn(t, []string{"MIKROBILL_DATA_DIR=" + t.TempDir(), "DATABASE_URL=" + url}, func() *store.Store {
			st, err := store.Open(context.Background(), store.Options{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func TestUserCommands(t *testing.T) {
	eachDatabase(t, func(t *testing.T, env []string, open func() *store.Store) {
		ctx := context.Background()
		if err, out, _ := runIn(t, env, "", "user", "list"); err != nil || !strings.Contains(out, "no users yet") {
			t.Errorf("list before any user: %v %q", err, out)
		}
		err, out, _ := runIn(t, env, "correct horse battery\n", "user", "create", "--username", "Ana", "--role", "admin", "--password-stdin")
		if err != nil || !strings.Contains(out, "created user ana (admin)") {
			t.Fatalf("create: %v %q", err, out)
		}

		st := open()
		u, err := st.Q().GetUserByUsername(ctx, "ana")
		if err != nil || u.Role != store.UserRoleAdmin || u.Disabled {
			t.Fatalf("stored user: %+v, %v", u, err)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=65536,t=1,p=2$") {
			t.Errorf("hash %q is not argon2id with the default parameters", u.PasswordHash)
		}
		if ok, _ := auth.VerifyPassword(ctx, u.PasswordHash, "correct horse battery"); !ok {
			t.Error("the stored hash does not verify the password")
		}

		tests := []struct {
			name  string
			stdin string
			args  []string
			want  string
		}{
			{"weak password", "short\n", []string{"create", "--username", "bob", "--password-stdin"}, "at least 10 characters"},
			{"password is the username", "bobbybobby\n", []string{"create", "--username", "bobbybobby", "--password-stdin"}, "must not be the username"},
			{"empty stdin", "", []string{"create", "--username", "bob", "--password-stdin"}, "--password-stdin"},
			{"no terminal", "", []string{"create", "--username", "bob"}, "no terminal"},
			{"taken", "correct horse battery\n", []string{"create", "--username", "ANA", "--password-stdin"}, "exists"},
			{"bad role", "correct horse battery\n", []string{"create", "--username", "bob", "--role", "root", "--password-stdin"}, "admin, operator or viewer"},
			{"bad username", "correct horse battery\n", []string{"create", "--username", "b b", "--password-stdin"}, "--username"},
			{"no username", "", []string{"create"}, "username"},
			{"set-password, unknown user", "correct horse battery\n", []string{"set-password", "--username", "nobody", "--password-stdin"}, "no user"},
			{"set-password, weak", "tiny\n", []string{"set-password", "--username", "ana", "--password-stdin"}, "at least 10 characters"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err, _, _ := runIn(t, env, tt.stdin, append([]string{"user"}, tt.args...)...)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %v, want one saying %q", err, tt.want)
				}
			})
		}
		if _, err := st.Q().GetUserByUsername(ctx, "bob"); err == nil {
			t.Error("a refused create made a user")
		}

		// A second user, then the list.
		if err, _, _ := runIn(t, env, "another good one\r\n", "user", "create", "--username", "vic", "--password-stdin"); err != nil {
			t.Fatal(err)
		}
		err, out, _ = runIn(t, env, "", "user", "list")
		if err != nil || !strings.Contains(out, "USERNAME") || !strings.Contains(out, "ana") || !strings.Contains(out, "vic") || !strings.Contains(out, "viewer") || !strings.Contains(out, "never") {
			t.Errorf("list: %v\n%s", err, out)
		}
		err, out, _ = runIn(t, env, "", "user", "list", "--json")
		var list []map[string]any
		if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || strings.Contains(out, "argon2") {
			t.Errorf("list --json: %v\n%s", err, out)
		}
		vic, _ := st.Q().GetUserByUsername(ctx, "vic")
		if ok, _ := auth.VerifyPassword(ctx, vic.PasswordHash, "another good one"); !ok {
			t.Error("a CRLF-terminated password kept its CR")
		}

		// set-password ends sessions and replaces the hash.
		if err := st.Q().CreateSession(ctx, &store.Session{IDHash: "x", UserID: u.ID, ExpiresAt: u.CreatedAt.AddDate(1, 0, 0)}); err != nil {
			t.Fatal(err)
		}
		err, out, _ = runIn(t, env, "a whole new password\n", "user", "set-password", "--username", "ana", "--password-stdin")
		if err != nil || !strings.Contains(out, "password of ana changed; 1 session(s) signed out") {
			t.Fatalf("set-password: %v %q", err, out)
		}
		u2, _ := st.Q().GetUserByUsername(ctx, "ana")
		if ok, _ := auth.VerifyPassword(ctx, u2.PasswordHash, "a whole new password"); !ok {
			t.Error("the new password does not verify")
		}
		if ok, _ := auth.VerifyPassword(ctx, u2.PasswordHash, "correct horse battery"); ok {
			t.Error("the old password still verifies")
		}
	})
}

// TestUserFirstAdminAndSetRole: the first user made without --role is an
// admin and later ones viewers; set-role changes a role, signs the user
// out, is audited, and refuses to demote the only enabled admin.
func TestUserFirstAdminAndSetRole(t *testing.T) {
	eachDatabase(t, func(t *testing.T, env []string, open func() *store.Store) {
		ctx := context.Background()
		err, out, _ := runIn(t, env, "correct horse battery\n", "user", "create", "--username", "ana", "--password-stdin")
		if err != nil || !strings.Contains(out, "created user ana (admin)") || !strings.Contains(out, "the first user is an admin") {
			t.Fatalf("first create: %v %q", err, out)
		}
		err, out, _ = runIn(t, env, "another good one\n", "user", "create", "--username", "vic", "--password-stdin")
		if err != nil || !strings.Contains(out, "created user vic (viewer)") || strings.Contains(out, "first user") {
			t.Fatalf("second create: %v %q", err, out)
		}
		if err, _, _ := runIn(t, env, "", "user", "set-role", "--username", "ana", "viewer"); err == nil || !strings.Contains(err.Error(), "only enabled admin") {
			t.Errorf("demoting the only admin: %v", err)
		}
		for _, bad := range [][]string{{"--username", "vic", "root"}, {"--username", "nobody", "admin"}, {"--username", "vic"}} {
			if err, _, _ := runIn(t, env, "", append([]string{"user", "set-role"}, bad...)...); err == nil {
				t.Errorf("set-role %v succeeded", bad)
			}
		}
		st := open()
		vic, _ := st.Q().GetUserByUsername(ctx, "vic")
		if err := st.Q().CreateSession(ctx, &store.Session{IDHash: "v", UserID: vic.ID, ExpiresAt: vic.CreatedAt.AddDate(1, 0, 0)}); err != nil {
			t.Fatal(err)
		}
		err, out, _ = runIn(t, env, "", "user", "set-role", "--username", "VIC", "admin")
		if err != nil || !strings.Contains(out, "vic is now admin (was viewer); 1 session(s) signed out") {
			t.Fatalf("set-role vic admin: %v %q", err, out)
		}
		// Two admins: ana may step down now.
		if err, out, _ := runIn(t, env, "", "user", "set-role", "--username", "ana", "operator"); err != nil || !strings.Contains(out, "ana is now operator") {
			t.Fatalf("set-role ana operator: %v %q", err, out)
		}
		for name, want := range map[string]string{"ana": store.UserRoleOperator, "vic": store.UserRoleAdmin} {
			if u, err := st.Q().GetUserByUsername(ctx, name); err != nil || u.Role != want {
				t.Errorf("%s: %+v, %v; want role %s", name, u, err, want)
			}
		}
		entries, _, err := st.Q().ListAudit(ctx, store.Page{Limit: 10})
		if err != nil || len(entries) != 2 || entries[0].Actor != "cli" || entries[0].Action != "user.updated" || entries[0].Metadata["previous_role"] == "" {
			t.Errorf("audit of set-role: %+v, %v", entries, err)
		}
	})
}
