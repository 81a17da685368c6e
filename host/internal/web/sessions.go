package web

// Signing in and out, and who the caller is.

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mikrobill/mikrobill/host/internal/auth"
	"github.com/mikrobill/mikrobill/host/internal/store"
)

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
