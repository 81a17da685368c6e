package web

// The admin UI's users and API tokens pages (package ui: users.go) reach
// the host through ui.Users, which userPages implements with the API
// handlers' own functions (users.go, tokens.go).

import (
	"context"
	"errors"
	"net/http"

	"github.com/mikrobill/mikrobill/host/internal/store"
	"github.com/mikrobill/mikrobill/host/internal/web/ui"
)

// userPages is ui.Users over the server.
type userPages struct{ s *Server }

var _ ui.Users = userPages{}

func (p userPages) Users(ctx context.Context) ([]store.User, error) {
	users, _, err := p.s.deps.DB.Q().ListUsers(ctx, store.Page{Limit: store.MaxLimit})
	return users, err
}

func (p userPages) CreateUser(r *http.Request, username, password, role string) error {
	_, err := p.s.addUser(r, createUserRequest{Username: username, Password: password, Role: role})
	return pageRefusal(refusal(err))
}

func (p userPages) UpdateUser(r *http.Request, id int64, role *string, disabled *bool) error {
	_, err := p.s.changeUser(r, id, updateUserRequest{Role: role, Disabled: disabled})
	if errors.Is(err, errLastAdmin) {
		return ui.ErrLastAdmin
	}
	return pageRefusal(err)
}

// Tokens lists as GET /tokens does: the caller's, everyone's for an admin
// (?all=true).
func (p userPages) Tokens(r *http.Request) ([]store.APIToken, error) {
	pr := PrincipalFrom(r.Context())
	owner := pr.UserID
	if RoleAtLeast(pr.Role, RoleAdmin) {
		owner = 0
	}
	toks, _, err := p.s.deps.DB.Q().ListAPITokens(r.Context(), owner, store.Page{Limit: store.MaxLimit})
	return toks, err
}

func (p userPages) CreateToken(r *http.Request, name string) (string, error) {
	tok, _, err := p.s.newToken(r, createTokenRequest{Name: name})
	return tok, pageRefusal(err)
}

func (p userPages) RevokeToken(r *http.Request, id int64) error {
	return p.s.dropToken(r, id)
}
