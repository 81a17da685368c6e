package web

// API tokens: everyone manages their own; admins see and revoke everyone's.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

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
	var req createTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	tok, rec, err := s.newToken(r, req)
	if err != nil {
		return err
	}
	noStore(w)
	writeJSON(w, http.StatusCreated, createTokenResponse{Token: tok, APIToken: rec})
	return nil
}

// newToken checks and makes an API token for the caller, for POST /tokens
// and the tokens page: the token (shown once) and its record.
func (s *Server) newToken(r *http.Request, req createTokenRequest) (string, *store.APIToken, error) {
	p := PrincipalFrom(r.Context())
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
		return "", nil, err
	}
	tok, rec, err := s.deps.Accounts.CreateToken(r.Context(), p.UserID, req.Name, expires)
	if err != nil {
		return "", nil, err
	}
	rec.Username = p.Username
	s.log.Info("API token created", "user", p.Username, "token_id", rec.ID, "prefix", rec.Prefix)
	// The auth package made it outside any transaction of ours: recorded
	// now. Its name, never the token (nor its prefix).
	s.audit(r, event("token.created", "api_token", rec.ID, tokenMeta(rec)))
	return tok, rec, nil
}

// tokenMeta is what the audit trail says about an API token: its name and
// owner, never the token.
func tokenMeta(t *store.APIToken) map[string]string {
	return map[string]string{"name": t.Name, "user_id": strconv.FormatInt(t.UserID, 10)}
}

// revokeToken revokes one of the caller's tokens (an admin's: anyone's).
// Someone else's token is "not found" to a non-admin.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := idVar(r, "id")
	if err != nil {
		return err
	}
	if err := s.dropToken(r, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dropToken revokes token id for DELETE /tokens/{id} and the tokens page.
func (s *Server) dropToken(r *http.Request, id int64) error {
	p := PrincipalFrom(r.Context())
	var t *store.APIToken
	err := s.change(r, func(q *store.Queries) (*auditEvent, error) {
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
	return nil
}
