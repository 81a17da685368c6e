package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

// authRoutes installs sign-in, sign-out, the current user, API tokens and
// user management. Signing in and out is public; everyone manages their own
// API tokens (admins see and revoke everyone's); users are for admins.
func (s *Server) authRoutes(api *mux.Router) {
	if s.deps.Accounts == nil || s.deps.DB == nil {
		return
	}
	const get, post, patch, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
	s.publicRoute(api, post, "/auth/login", s.login)
	s.publicRoute(api, post, "/auth/logout", s.logout)
	s.route(api, get, "/auth/me", RoleViewer, s.me)

	s.route(api, get, "/tokens", RoleViewer, s.listTokens)
	s.route(api, post, "/tokens", RoleViewer, s.createToken)
	s.route(api, del, "/tokens/{id}", RoleViewer, s.revokeToken)

	s.route(api, get, "/users", RoleAdmin, s.listUsers)
	s.route(api, post, "/users", RoleAdmin, s.createUser)
	s.route(api, get, "/users/{id}", RoleAdmin, s.getUser)
	s.route(api, patch, "/users/{id}", RoleAdmin, s.updateUser)
	s.route(api, del, "/users/{id}", RoleAdmin, s.deleteUser)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Session asks for a session cookie instead of a bearer JWT.
	Session bool `json:"session"`
}

type loginResponse struct {
	// Token is the bearer JWT (without session).
	Token     string      `json:"token,omitempty"`
	TokenType string      `json:"token_type,omitempty"`
	ExpiresAt time.Time   `json:"expires_at"`
	User      *store.User `json:"user"`
}

// noStore marks a response that carries a credential: not cached, and not
// compressed (see compress).
func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// login checks a username and password and answers with a bearer JWT, or
// sets a session cookie. Attempts are limited per client address and
// username (LoginLimit per LoginWindow).
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var v validation
	v.check(strings.TrimSpace(req.Username) != "", "username", "required")
	v.check(req.Password != "", "password", "required")
	if err := v.err(); err != nil {
		return err
	}
	ip := s.sec.clientKey(r)
	username := auth.NormalizeUsername(req.Username)
	if err := s.limit(w, r, "login:"+ip+":"+username, LoginLimit, LoginWindow); err != nil {
		s.log.Warn("sign-in rate limited", "user", username, "remote", ip)
		return err
	}
	u, err := s.deps.Accounts.Login(r.Context(), req.Username, req.Password)
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		s.log.Info("sign-in refused", "user", username, "remote", ip)
		return &apiError{http.StatusUnauthorized, "invalid_credentials", err.Error(), nil}
	case errors.Is(err, auth.ErrUserDisabled):
		s.log.Info("sign-in refused: disabled", "user", username, "remote", ip)
		return &apiError{http.StatusForbidden, "account_disabled", err.Error(), nil}
	case err != nil:
		return err
	}
	noStore(w)
	secure := s.sec.isHTTPS(r)
	if !req.Session {
		tok, exp, err := s.deps.Accounts.IssueJWT(u)
		if err != nil {
			return err
		}
		s.log.Info("signed in", "user", u.Username, "via", auth.ViaJWT, "remote", ip)
		writeJSON(w, http.StatusOK, loginResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp, User: u})
		return nil
	}
	// A session cookie the browser already holds is replaced: end it.
	if _, err := s.deps.Accounts.EndSession(r.Context(), r, secure); err != nil {
		return err
	}
	cookie, exp, err := s.deps.Accounts.StartSession(r.Context(), u, ip, secure)
	if err != nil {
		return err
	}
	http.SetCookie(w, cookie)
	s.log.Info("signed in", "user", u.Username, "via", auth.ViaSession, "remote", ip)
	writeJSON(w, http.StatusOK, loginResponse{ExpiresAt: exp, User: u})
	return nil
}

// logout ends the session named by the cookie, if any, and clears the
// cookie. A bearer JWT cannot be ended: the client forgets it, and it
// expires on its own (security.jwt_ttl).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	clear, err := s.deps.Accounts.EndSession(r.Context(), r, s.sec.isHTTPS(r))
	if err != nil {
		return err
	}
	http.SetCookie(w, clear)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type meResponse struct {
	User    *store.User `json:"user"`
	Via     string      `json:"via"`
	TokenID int64       `json:"token_id,omitempty"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	u, err := s.deps.DB.Q().GetUser(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, meResponse{User: u, Via: p.Via, TokenID: p.TokenID})
	return nil
}

// listTokens lists the caller's API tokens; admins may ask for everyone's
// with ?all=true.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	owner := p.UserID
	switch all := r.URL.Query().Get("all"); all {
	case "", "false":
	case "true":
		if !RoleAtLeast(p.Role, RoleAdmin) {
			return &apiError{http.StatusForbidden, "forbidden", "listing everyone's API tokens needs the admin role; leave out ?all=true to list yours", nil}
		}
		owner = 0
	default:
		return (&validation{errs: FieldErrors{"all": "true or false"}}).err()
	}
	items, total, err := s.deps.DB.Q().ListAPITokens(r.Context(), owner, page)
	if err != nil {
		return err
	}
	writeList(w, items, total, page)
	return nil
}

type createTokenRequest struct {
	Name string `json:"name"`
	// ExpiresAt is when the token stops working (RFC 3339; absent: never).
	ExpiresAt *time.Time `json:"expires_at"`
}

type createTokenResponse struct {
	// Token is shown this once; only its digest is kept.
	Token string `json:"token"`
	*store.APIToken
}

// createToken makes an API token for the caller, with the caller's role.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	var req createTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	var v validation
	v.check(req.Name != "", "name", "required: say what the token is for, e.g. \"backup script\"")
	v.check(utf8.RuneCountInString(req.Name) <= 100, "name", "at most 100 characters")
	var expires time.Time
	if req.ExpiresAt != nil {
		expires = *req.ExpiresAt
		v.check(expires.After(time.Now()), "expires_at", "must be in the future")
	}
	if err := v.err(); err != nil {
		return err
	}
	tok, rec, err := s.deps.Accounts.CreateToken(r.Context(), p.UserID, req.Name, expires)
	if err != nil {
		return err
	}
	rec.Username = p.Username
	s.log.Info("API token created", "user", p.Username, "token_id", rec.ID, "prefix", rec.Prefix)
	// The auth package made it outside any transaction of ours: recorded
	// now. Its name, never the token (nor its prefix).
	s.audit(r, event("token.created", "api_token", rec.ID, tokenMeta(rec)))
	noStore(w)
	writeJSON(w, http.StatusCreated, createTokenResponse{Token: tok, APIToken: rec})
	return nil
}

// tokenMeta is what the audit trail says about an API token: its name and
// owner, never the token.
func tokenMeta(t *store.APIToken) map[string]string {
	return map[string]string{"name": t.Name, "user_id": strconv.FormatInt(t.UserID, 10)}
}

// revokeToken revokes one of the caller's tokens (an admin's: anyone's).
// Someone else's token is "not found" to a non-admin.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	p := PrincipalFrom(r.Context())
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	var t *store.APIToken
	err = s.change(r, func(q *store.Queries) (*auditEvent, error) {
		var err error
		t, err = q.GetAPIToken(r.Context(), id)
		if err == nil && t.UserID != p.UserID && !RoleAtLeast(p.Role, RoleAdmin) {
			err = fmt.Errorf("API token %d: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		if err := q.RevokeAPIToken(r.Context(), id); err != nil {
			return nil, err
		}
		return event("token.revoked", "api_token", id, tokenMeta(t)), nil
	})
	if err != nil {
		return err
	}
	s.log.Info("API token revoked", "by", p.Username, "token_id", id, "owner_id", t.UserID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

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
	name := auth.NormalizeUsername(req.Username)
	var v validation
	if err := auth.CheckUsername(name); err != nil {
		v.check(false, "username", strings.TrimPrefix(err.Error(), auth.ErrInvalidUsername.Error()+": "))
	}
	passwordCheck(&v, name, req.Password)
	v.check(ValidRole(req.Role), "role", roleHint)
	if err := v.err(); err != nil {
		return err
	}
	u, err := auth.NewUser(r.Context(), s.deps.Accounts.HashPassword, name, req.Password, req.Role)
	if err != nil {
		return err
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
		return err
	}
	s.log.Info("user created", "by", PrincipalFrom(r.Context()).Username, "user", u.Username, "role", u.Role)
	writeJSON(w, http.StatusCreated, u)
	return nil
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
	var v validation
	v.check(req.Role != nil || req.Disabled != nil || req.Password != nil, "body", "send at least one of role, disabled, password")
	if req.Role != nil {
		v.check(ValidRole(*req.Role), "role", roleHint)
	}
	if err := v.err(); err != nil {
		return err
	}
	ctx := r.Context()
	current, err := s.deps.DB.Q().GetUser(ctx, id)
	if err != nil {
		return err
	}
	hash := ""
	if req.Password != nil {
		passwordCheck(&v, current.Username, *req.Password)
		if err := v.err(); err != nil {
			return err
		}
		if hash, err = s.deps.Accounts.HashPassword(ctx, *req.Password); err != nil {
			return err
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
		return refusal(err)
	}
	if u, err = s.deps.DB.Q().GetUser(ctx, id); err != nil {
		return err
	}
	s.log.Info("user updated", "by", PrincipalFrom(ctx).Username, "user", u.Username, "role", u.Role,
		"disabled", u.Disabled, "password_changed", hash != "", "sessions_ended", ended)
	writeJSON(w, http.StatusOK, u)
	return nil
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
