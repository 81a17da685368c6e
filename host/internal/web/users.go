package web

// Users, for admins; the host never loses its last enabled admin.

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	items, total, err := s.deps.DB.Q().ListUsers(r.Context(), page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	u, err := s.deps.DB.Q().GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

type createUserRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
}

// passwordCheck records what is wrong with a new password.
func passwordCheck(v *validation, username, password string) {
	if err := auth.CheckPassword(username, password); err != nil {
		v.check(false, "password", strings.TrimPrefix(err.Error(), auth.ErrWeakPassword.Error()+": "))
	}
}

const roleHint = "one of admin, operator, viewer"

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.addUser(r, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

// addUser checks and creates a user, for POST /users and the users page.
func (s *Server) addUser(r *http.Request, req createUserRequest) (*store.User, error) {
	name := auth.NormalizeUsername(req.Username)
	var v validation
	if err := auth.CheckUsername(name); err != nil {
		v.check(false, "username", strings.TrimPrefix(err.Error(), auth.ErrInvalidUsername.Error()+": "))
	}
	passwordCheck(&v, name, req.Password)
	v.check(ValidRole(req.Role), "role", roleHint)
	if err := v.err(); err != nil {
		return nil, err
	}
	u, err := auth.NewUser(r.Context(), s.deps.Accounts.HashPassword, name, req.Password, req.Role)
	if err != nil {
		return nil, err
	}
	u.Disabled = req.Disabled
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		if err := q.CreateUser(r.Context(), u); err != nil {
			return nil, err // a taken username is the store's *FieldError
		}
		return event("user.created", "user", u.ID, map[string]string{
			"username": u.Username, "role": u.Role, "disabled": strconv.FormatBool(u.Disabled)}), nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("user created", "by", PrincipalFrom(r.Context()).Username, "user", u.Username, "role", u.Role)
	return u, nil
}

type updateUserRequest struct {
	Role     *string `json:"role"`
	Disabled *bool   `json:"disabled"`
	// Password sets a new password and signs the user out everywhere.
	Password *string `json:"password"`
}

// errLastAdmin refuses to leave the host without an enabled admin.
var errLastAdmin = &apiError{http.StatusConflict, "last_admin",
	"this is the only enabled admin; make another user admin first, or the host would have nobody to manage users", nil}

// removesAdmin reports whether changing u to role and disabled takes away
// an enabled admin.
func removesAdmin(u *store.User, role string, disabled bool) bool {
	return u.Role == RoleAdmin && !u.Disabled && (role != RoleAdmin || disabled)
}

// checkNotLastAdmin refuses when u is the only enabled admin. Call it in
// the transaction that removes u's rights.
func checkNotLastAdmin(r *http.Request, q *store.Queries, u *store.User) error {
	ids, err := q.ActiveAdmins(r.Context())
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id != u.ID {
			return nil
		}
	}
	return errLastAdmin
}

// updateUser changes a user's role, status or password. Each of these ends
// the user's sessions and bearer JWTs at once; API tokens act with the new
// role or status at once, and survive a password change.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	var req updateUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.changeUser(r, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// changeUser checks and makes a change to user id, for PATCH /users/{id}
// and the users page.
func (s *Server) changeUser(r *http.Request, id int64, req updateUserRequest) (*store.User, error) {
	var v validation
	v.check(req.Role != nil || req.Disabled != nil || req.Password != nil, "body", "send at least one of role, disabled, password")
	if req.Role != nil {
		v.check(ValidRole(*req.Role), "role", roleHint)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	ctx := r.Context()
	current, err := s.deps.DB.Q().GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	hash := ""
	if req.Password != nil {
		passwordCheck(&v, current.Username, *req.Password)
		if err := v.err(); err != nil {
			return nil, err
		}
		if hash, err = s.deps.Accounts.HashPassword(ctx, *req.Password); err != nil {
			return nil, err
		}
	}
	var u *store.User
	var ended int64
	err = s.deps.DB.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		var err error
		if u, err = q.GetUser(ctx, id); err != nil {
			return err
		}
		role, disabled := u.Role, u.Disabled
		if req.Role != nil {
			role = *req.Role
		}
		if req.Disabled != nil {
			disabled = *req.Disabled
		}
		if removesAdmin(u, role, disabled) {
			if err := checkNotLastAdmin(r, q, u); err != nil {
				return err
			}
		}
		changed := role != u.Role || disabled != u.Disabled
		if changed {
			u.Role, u.Disabled = role, disabled
			if err := q.UpdateUser(ctx, u); err != nil {
				return err
			}
		}
		if hash != "" {
			if err := q.SetUserPassword(ctx, u.ID, hash); err != nil {
				return err
			}
		}
		// The change ended the user's sessions and bearer JWTs (the
		// user's generation moved on); the sessions' rows go too.
		if hash != "" || changed {
			if ended, err = q.DeleteUserSessions(ctx, u.ID); err != nil {
				return err
			}
		}
		// What changed, never the password itself.
		return s.auditTx(r, tx, event("user.updated", "user", u.ID, map[string]string{
			"username": u.Username, "role": u.Role, "disabled": strconv.FormatBool(u.Disabled),
			"password_changed": strconv.FormatBool(hash != ""), "sessions_ended": strconv.FormatInt(ended, 10)}))
	})
	if err != nil {
		return nil, refusal(err)
	}
	if u, err = s.deps.DB.Q().GetUser(ctx, id); err != nil {
		return nil, err
	}
	s.log.Info("user updated", "by", PrincipalFrom(ctx).Username, "user", u.Username, "role", u.Role,
		"disabled", u.Disabled, "password_changed", hash != "", "sessions_ended", ended)
	return u, nil
}

// deleteUser removes a user with its sessions and API tokens. Admins cannot
// delete themselves, nor the last enabled admin.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := PrincipalFrom(ctx)
	if id == p.UserID {
		return &apiError{http.StatusConflict, "self_delete", "you cannot delete your own account; another admin can, or disable it instead", nil}
	}
	var name string
	err = s.deps.DB.Tx(ctx, func(tx *store.Tx) error {
		q := tx.Q()
		u, err := q.GetUser(ctx, id)
		if err != nil {
			return err
		}
		name = u.Username
		if removesAdmin(u, "", true) {
			if err := checkNotLastAdmin(r, q, u); err != nil {
				return err
			}
		}
		if err := q.DeleteUser(ctx, id); err != nil {
			return err
		}
		return s.auditTx(r, tx, event("user.deleted", "user", id, map[string]string{"username": name, "role": u.Role}))
	})
	if err != nil {
		return err
	}
	s.log.Info("user deleted", "by", p.Username, "user", name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
