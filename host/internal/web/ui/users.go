package ui

// Users (for admins) and API tokens (everyone's own; an admin sees
// everyone's), with the API's rules through Users.

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

func init() {
	pageFiles = append(pageFiles, "users.html", "tokens.html")
}

// Users is what the users and tokens pages ask of the host: the functions
// of the API's /users and /tokens handlers. A refused field comes back as
// *Invalid, taking away the last enabled admin as ErrLastAdmin.
type Users interface {
	Users(ctx context.Context) ([]store.User, error)
	CreateUser(r *http.Request, username, password, role string) error
	// UpdateUser changes a user's role or status (nil: unchanged).
	UpdateUser(r *http.Request, id int64, role *string, disabled *bool) error
	// Tokens lists the caller's API tokens, everyone's for an admin.
	Tokens(r *http.Request) ([]store.APIToken, error)
	// CreateToken makes an API token for the caller; the token is shown once.
	CreateToken(r *http.Request, name string) (string, error)
	RevokeToken(r *http.Request, id int64) error
}

// ErrLastAdmin refuses to leave the host without an enabled admin.
var ErrLastAdmin = errors.New("the only enabled admin")

// usersData is the users page's.
type usersData struct {
	Users []store.User
	// Roles are the roles to choose from.
	Roles []string
	// New is the create form as typed, with its errors.
	NewUsername, NewRole string
	Errs                 fieldErrors
	// RowID is the user whose change was refused, with RowErr.
	RowID  int64
	RowErr string
}

// UsersPage serves GET /users.
func (u *UI) UsersPage(w http.ResponseWriter, r *http.Request) error {
	v := view{}
	switch q := r.URL.Query(); {
	case q.Has("created"):
		v.Notice, v.NoticeArg = "users.created", q.Get("created")
	case q.Has("changed"):
		v.Notice, v.NoticeArg = "users.changed", q.Get("changed")
	}
	return u.usersPage(w, r, http.StatusOK, v, &usersData{NewRole: "viewer", Errs: fieldErrors{}})
}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, status int, v view, d *usersData) error {
	users, err := u.deps.Users.Users(r.Context())
	if err != nil {
		return err
	}
	d.Users, d.Roles = users, []string{"viewer", "operator", "admin"}
	v.Title, v.Data = "users.title", d
	if len(d.Errs) > 0 || d.RowErr != "" {
		v.Problem = "form.refused"
	}
	return u.render(w, r, status, "users.html", v)
}

// CreateUser serves POST /users.
func (u *UI) CreateUser(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r, "users")
	name, role := f.str("username"), f.str("role")
	err := u.deps.Users.CreateUser(r, name, r.PostFormValue("password"), role)
	if errs, ok := refused(err, "users"); ok {
		return u.usersPage(w, r, http.StatusUnprocessableEntity, view{}, &usersData{NewUsername: name, NewRole: role, Errs: errs})
	}
	if err != nil {
		return err
	}
	redirect(w, r, "/users?created="+name)
	return nil
}

// UpdateUser serves POST /users/{id}: role, or disabled ("true", "false").
func (u *UI) UpdateUser(w http.ResponseWriter, r *http.Request) error {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	f := newForm(r, "users")
	var role *string
	var disabled *bool
	if v := f.str("role"); v != "" {
		role = &v
	}
	switch f.str("disabled") {
	case "true":
		disabled = new(bool)
		*disabled = true
	case "false":
		disabled = new(bool)
	}
	err := u.deps.Users.UpdateUser(r, id, role, disabled)
	refuse := func(key string) error {
		return u.usersPage(w, r, http.StatusUnprocessableEntity, view{}, &usersData{NewRole: "viewer", Errs: fieldErrors{}, RowID: id, RowErr: key})
	}
	if errors.Is(err, ErrLastAdmin) {
		return refuse("users.err.last_admin")
	}
	if errs, ok := refused(err, "users"); ok {
		for _, key := range errs {
			return refuse(key)
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	if err != nil {
		return err
	}
	redirect(w, r, "/users?changed="+strconv.FormatInt(id, 10))
	return nil
}

// tokensData is the tokens page's.
type tokensData struct {
	Tokens []store.APIToken
	// Token is the one just made, shown this once.
	Token   string
	NewName string
	Errs    fieldErrors
}

// TokensPage serves GET /tokens.
func (u *UI) TokensPage(w http.ResponseWriter, r *http.Request) error {
	v := view{}
	if r.URL.Query().Has("revoked") {
		v.Notice = "tokens.revoked"
	}
	return u.tokensPage(w, r, http.StatusOK, v, &tokensData{Errs: fieldErrors{}})
}

func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request, status int, v view, d *tokensData) error {
	toks, err := u.deps.Users.Tokens(r)
	if err != nil {
		return err
	}
	d.Tokens = toks
	v.Title, v.Data = "tokens.title", d
	if len(d.Errs) > 0 {
		v.Problem = "form.refused"
	}
	return u.render(w, r, status, "tokens.html", v)
}

// CreateToken serves POST /tokens: the page again, with the token.
func (u *UI) CreateToken(w http.ResponseWriter, r *http.Request) error {
	name := newForm(r, "tokens").str("name")
	tok, err := u.deps.Users.CreateToken(r, name)
	if errs, ok := refused(err, "tokens"); ok {
		return u.tokensPage(w, r, http.StatusUnprocessableEntity, view{}, &tokensData{NewName: name, Errs: errs})
	}
	if err != nil {
		return err
	}
	return u.tokensPage(w, r, http.StatusCreated, view{Notice: "tokens.created"}, &tokensData{Token: tok, Errs: fieldErrors{}})
}

// RevokeToken serves POST /tokens/{id}/revoke.
func (u *UI) RevokeToken(w http.ResponseWriter, r *http.Request) error {
	id, ok := idVar(r, "id")
	if !ok {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	err := u.deps.Users.RevokeToken(r, id)
	if errors.Is(err, store.ErrNotFound) {
		u.Fail(w, r, http.StatusNotFound, "")
		return nil
	}
	if err != nil {
		return err
	}
	redirect(w, r, "/tokens?revoked")
	return nil
}
