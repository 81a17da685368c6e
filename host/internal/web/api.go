package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/mikrobill/mikrobill/host/internal/store"
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

// policy records the role each API route requires, for the route-by-role
// tests and /api/v1/routes.
type policy struct {
	mu    sync.Mutex
	roles map[string]string // "METHOD /path/template" -> role ("" = public)
}

func (p *policy) set(method, path, role string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.roles == nil {
		p.roles = map[string]string{}
	}
	p.roles[method+" "+path] = role
}

// Policies returns "METHOD /path" -> required role for every API route
// (an empty role: public), sorted.
func (s *Server) Policies() map[string]string {
	s.policy.mu.Lock()
	defer s.policy.mu.Unlock()
	out := make(map[string]string, len(s.policy.roles))
	for k, v := range s.policy.roles {
		out[k] = v
	}
	return out
}

// PolicyKeys returns the policy's keys, sorted.
func PolicyKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// route installs an API handler that needs at least role (RoleViewer,
// RoleOperator or RoleAdmin), and records the rule.
func (s *Server) route(r *mux.Router, method, path, role string, h func(http.ResponseWriter, *http.Request) error) {
	rt := r.Handle(path, s.handle(func(w http.ResponseWriter, req *http.Request) error {
		p := PrincipalFrom(req.Context())
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mikrobill"`)
			return &apiError{http.StatusUnauthorized, "unauthenticated", "sign in first: send a bearer token (JWT or API token) or a session cookie", nil}
		}
		if !RoleAtLeast(p.Role, role) {
			return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("this needs the %s role; you are %s", role, p.Role), nil}
		}
		return h(w, req)
	})).Methods(method)
	s.policy.set(method, routeTemplate(rt, path), role)
}

// routeTemplate is the full path template of an installed route. (Asking a
// router for r.Path(path) instead would add a route without a handler that
// shadows the real one.)
func routeTemplate(rt *mux.Route, path string) string {
	if tmpl, err := rt.GetPathTemplate(); err == nil {
		return tmpl
	}
	return path
}

// publicRoute installs an API handler that needs no authentication.
func (s *Server) publicRoute(r *mux.Router, method, path string, h func(http.ResponseWriter, *http.Request) error) {
	rt := r.Handle(path, s.handle(h)).Methods(method)
	s.policy.set(method, routeTemplate(rt, path), "")
}

// FieldErrors maps a JSON field to what is wrong with it.
type FieldErrors map[string]string

// validation collects field errors.
type validation struct{ errs FieldErrors }

// check records msg for field unless ok.
func (v *validation) check(ok bool, field, msg string) {
	if ok {
		return
	}
	if v.errs == nil {
		v.errs = FieldErrors{}
	}
	if _, seen := v.errs[field]; !seen {
		v.errs[field] = msg
	}
}

// err returns a 422 with every field error, or nil.
func (v *validation) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &apiError{http.StatusUnprocessableEntity, "validation_failed", "some fields are not valid; see details", v.errs}
}

// decodeJSON reads a JSON request body strictly: unknown fields and
// trailing data are errors naming what is wrong.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json", nil}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit), nil}
		}
		return &apiError{http.StatusBadRequest, "bad_body", "could not read the body: " + err.Error(), nil}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, "bad_json", jsonProblem(err), nil}
	}
	if dec.More() {
		return &apiError{http.StatusBadRequest, "bad_json", "unexpected data after the JSON object", nil}
	}
	return nil
}

func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q: expected %s, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.EOF):
		return "the body is empty; send a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		return err.Error()
	}
}

// pageFrom reads ?limit= and ?offset=.
func pageFrom(r *http.Request) (store.Page, error) {
	var p store.Page
	var v validation
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		v.check(err == nil && n >= 1 && n <= store.MaxLimit, "limit", fmt.Sprintf("a whole number from 1 to %d", store.MaxLimit))
		p.Limit = n
	}
	if s := r.URL.Query().Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		v.check(err == nil && n >= 0, "offset", "a whole number, 0 or more")
		p.Offset = n
	}
	if err := v.err(); err != nil {
		return p, err
	}
	return p.Normalized()
}

// listBody is the API's one list shape.
type listBody[T any] struct {
	Items      []T  `json:"items"`
	Total      int  `json:"total"`
	Limit      int  `json:"limit"`
	Offset     int  `json:"offset"`
	NextOffset *int `json:"next_offset"`
}

// writeList writes a page of items.
func writeList[T any](w http.ResponseWriter, items []T, total int, page store.Page) {
	if items == nil {
		items = []T{}
	}
	body := listBody[T]{Items: items, Total: total, Limit: page.Limit, Offset: page.Offset}
	if next := page.Offset + len(items); next < total {
		body.NextOffset = &next
	}
	writeJSON(w, http.StatusOK, body)
}

// idVar reads a numeric path variable.
func idVar(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(mux.Vars(r)[name], 10, 64)
	if err != nil || id <= 0 {
		return 0, &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("%s must be a positive number", name), nil}
	}
	return id, nil
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
