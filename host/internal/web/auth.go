package web

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/auth"
)

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

// isPublic reports whether the request matched a route installed with
// publicRoute.
func (s *Server) isPublic(r *http.Request) bool {
	cur := mux.CurrentRoute(r)
	if cur == nil {
		return false
	}
	tmpl, err := cur.GetPathTemplate()
	if err != nil {
		return false
	}
	s.policy.mu.Lock()
	defer s.policy.mu.Unlock()
	role, ok := s.policy.roles[r.Method+" "+tmpl]
	return ok && role == ""
}
