package auth_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/store/storetest"
)

// TestAnyHostTakesAnyCredential: two hosts on one PostgreSQL, each with its
// own connection pool and auth service (the same security.jwt_secret, as
// every host on one database must have: package hosts refuses one whose
// secret differs). A JWT, an API token and a session one host issued work
// on the other, and a session ended on one is over on both.
func TestAnyHostTakesAnyCredential(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s is not set: several hosts need PostgreSQL", storetest.EnvPostgres)
	}
	u := storetest.PostgresURL(t)
	ctx := context.Background()
	stA, stB := storetest.PostgresAt(t, u), storetest.PostgresAt(t, u)
	c := newClock()
	a, b := newService(t, stA, c), newService(t, stB, c)
	user := mustUser(t, stA, "ana", "correct horse battery", store.UserRoleAdmin)

	jwtTok, _, err := a.IssueJWT(user)
	if err != nil {
		t.Fatal(err)
	}
	apiTok, _, err := a.CreateToken(ctx, user.ID, "ci", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cookie, _, err := a.StartSession(ctx, user, "127.0.0.1", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		via  string
		req  func() *http.Request
	}{
		{"jwt", auth.ViaJWT, func() *http.Request { return request(bearer(jwtTok)) }},
		{"api token", auth.ViaToken, func() *http.Request { return request(bearer(apiTok)) }},
		{"session", auth.ViaSession, func() *http.Request { return request(withCookie(cookie)) }},
	} {
		id, err := b.Authenticate(ctx, tc.req())
		if err != nil || id == nil || id.User.ID != user.ID || id.Via != tc.via {
			t.Errorf("%s issued by host A, on host B: %+v, %v", tc.name, id, err)
		}
	}
	// Signed out through host B: host A refuses the session too.
	if _, err := b.EndSession(ctx, request(withCookie(cookie)), false); err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(ctx, request(withCookie(cookie)))
	wantRefused(t, "a session ended on host B, on host A", id, err, auth.ErrUnauthenticated, "session")
}
