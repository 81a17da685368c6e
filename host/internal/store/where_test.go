package store_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestWhereHidesPasswords: the PostgreSQL URL a store reports (which the
// host logs as "where" and prints after `user create` and `migrate`) hides
// its passwords, in the user information and in password query parameters
// alike.
func TestWhereHidesPasswords(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set (CI sets it)", storetest.EnvPostgres)
	}
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	// The test server trusts its clients: the passwords are not checked.
	u.User = url.UserPassword(u.User.Username(), "hunter2-in-userinfo")
	q := u.Query()
	q.Set("password", "hunter2-in-query")
	u.RawQuery = q.Encode()
	s, err := store.Open(context.Background(), store.Options{URL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	where := s.Where()
	if strings.Contains(where, "hunter2") || !strings.Contains(where, ":xxxxx@") || !strings.Contains(where, "password=xxxxx") {
		t.Errorf("Where() = %q, want both passwords shown as xxxxx", where)
	}
}
