package web

// Who is calling, and what each role may do: the roles, the principal of a
// request, how authenticate finds it (bearer JWT, API token or session
// cookie, through Deps.Accounts), and the role check every route but the
// public ones passes (requireRole, installed by route).

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/sdk"
)

// Roles, from least to most privileged. A route open to a role is open to
// the roles above it. They are the SDK's (sdk.Roles), defined there only.
const (
	RoleViewer   = sdk.RoleViewer
	RoleOperator = sdk.RoleOperator
	RoleAdmin    = sdk.RoleAdmin
)

var roleRank = map[string]int{RoleViewer: 1, RoleOperator: 2, RoleAdmin: 3}

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return roleRank[r] > 0 }

// RoleAtLeast reports whether role has at least the rights of min.
func RoleAtLeast(role, min string) bool { return roleRank[role] >= roleRank[min] && roleRank[role] > 0 }

// Principal is the authenticated caller of an API request.
type Principal struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	// Via is how the caller authenticated: "jwt", "token" or "session".
	Via string `json:"via"`
	// TokenID is the API token's id when Via is "token".
	TokenID int64 `json:"token_id,omitempty"`
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Authenticator finds the principal of a request (bearer JWT, bearer API
// token, or session cookie). It returns nil, nil for an anonymous request
// and an error for credentials that are present but wrong.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// authenticate puts the request's principal, if any, in its context. Wrong
// credentials are refused here; missing ones are left to each route.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if s.deps.Auth != nil {
			p, err := s.deps.Auth.Authenticate(r)
			var ae *apiError
			if errors.As(err, &ae) {
				return err // not the credentials' fault (the database is down)
			}
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mikrobill", error="invalid_token"`)
				return &apiError{http.StatusUnauthorized, "unauthenticated", err.Error(), nil}
			}
			if p != nil {
				r = r.WithContext(WithPrincipal(r.Context(), p))
			}
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// accountsAuthenticator is the Authenticator over Deps.Accounts: bearer
// JWT, bearer API token, or session cookie, checked against the database
// on every request.
type accountsAuthenticator struct{ s *Server }

var _ Authenticator = accountsAuthenticator{}

func (a accountsAuthenticator) Authenticate(r *http.Request) (*Principal, error) {
	id, err := a.s.deps.Accounts.Authenticate(r.Context(), r)
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			return nil, err
		}
		// The database, not the credentials: a 401 would make clients
		// throw away good tokens.
		a.s.log.Error("check credentials", "path", r.URL.Path, "error", err)
		ae := classify(err)
		if ae.status == http.StatusInternalServerError {
			ae = &apiError{http.StatusServiceUnavailable, "auth_unavailable", "could not check the credentials because the database did not answer; try again shortly", nil}
		}
		return nil, ae
	}
	if id == nil {
		return nil, nil
	}
	return &Principal{UserID: id.User.ID, Username: id.User.Username, Role: id.User.Role, Via: id.Via, TokenID: id.TokenID}, nil
}

// publicRoutesTolerate lets refused credentials through as anonymous on
// public routes, so a browser holding an expired session cookie can still
// sign in and sign out.
type publicRoutesTolerate struct {
	s    *Server
	next Authenticator
}

func (a publicRoutesTolerate) Authenticate(r *http.Request) (*Principal, error) {
	p, err := a.next.Authenticate(r)
	if err != nil && a.s.isPublic(r) {
		var ae *apiError
		if !errors.As(err, &ae) {
			return nil, nil
		}
	}
	return p, err
}

// isPublic reports whether the request matched a route router installs
// for rolePublic.
func (s *Server) isPublic(r *http.Request) bool {
	cur := mux.CurrentRoute(r)
	if cur == nil {
		return false
	}
	tmpl, err := cur.GetPathTemplate()
	if err != nil {
		return false
	}
	role, ok := s.policy.role(r.Method, tmpl)
	return ok && role == rolePublic
}

// requireRole runs h only for a caller with at least role (checkRole).
func requireRole(role string, h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := checkRole(w, PrincipalFrom(r.Context()), role); err != nil {
			return err
		}
		return h(w, r)
	}
}

// checkRole refuses a request without a caller (401, asking for a bearer
// token) and a caller below role (403).
func checkRole(w http.ResponseWriter, p *Principal, role string) error {
	if p == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mikrobill"`)
		return &apiError{http.StatusUnauthorized, "unauthenticated", "sign in first: send a bearer token (JWT or API token) or a session cookie", nil}
	}
	if !RoleAtLeast(p.Role, role) {
		return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("this needs the %s role; you are %s", role, p.Role), nil}
	}
	return nil
}

// actor names the caller in audit records.
func actor(r *http.Request) string {
	if p := PrincipalFrom(r.Context()); p != nil {
		return "user:" + p.Username
	}
	return "anonymous"
}
