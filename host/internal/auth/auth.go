// Package auth signs people and programs in to the host: argon2id password
// hashing (password.go), HS256 bearer JWTs (jwt.go), API tokens and session
// cookies (tokens.go), and Service, which checks all three against the
// store on every request.
//
// Start with Service: New, then Authenticate (what the web package's
// Authenticator calls), Login, StartSession, IssueJWT and CreateToken. The
// store keeps only digests of tokens and session values and argon2id hashes
// of passwords. Nothing is cached: each request re-reads the token or
// session row and the user row (primary-key lookups), so revoking a token,
// ending a session or disabling a user takes effect at once.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mikrobill/mikrobill/host/internal/store"
)

// Errors of the package. Refused credentials wrap ErrUnauthenticated and
// one of the more precise errors; their messages say what to do.
var (
	// ErrUnauthenticated: credentials were presented and refused.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrBadCredentials: the username or the password is wrong (one
	// message for both, so sign-in does not reveal who has an account).
	ErrBadCredentials = errors.New("wrong username or password")
	// ErrInvalidCredentials: a token or session that is malformed, forged,
	// unknown, or whose user is gone.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrExpired: a token or session past its expiry.
	ErrExpired = errors.New("credentials expired")
	// ErrRevoked: a revoked API token, or a JWT or session issued before
	// the user's password, role or status last changed.
	ErrRevoked = errors.New("credentials revoked")
	// ErrUserDisabled: the user is disabled.
	ErrUserDisabled = errors.New("user disabled")
	// ErrWeakPassword: a new password breaks the policy (CheckPassword).
	ErrWeakPassword = errors.New("password too weak")
	// ErrInvalidUsername: a username breaks the rules (CheckUsername).
	ErrInvalidUsername = errors.New("invalid username")
)

// refusal is a refused credential: its message is for the caller, and it
// matches its kind and ErrUnauthenticated.
type refusal struct {
	kind error
	msg  string
}

func (e *refusal) Error() string   { return e.msg }
func (e *refusal) Unwrap() []error { return []error{e.kind, ErrUnauthenticated} }

func refuse(kind error, msg string) error { return &refusal{kind: kind, msg: msg} }

// How a request authenticated (Identity.Via).
const (
	ViaJWT     = "jwt"
	ViaToken   = "token"
	ViaSession = "session"
)

// Identity is who made a request and how.
type Identity struct {
	// User is the user's row as read for this request.
	User *store.User
	// Via is ViaJWT, ViaToken or ViaSession.
	Via string
	// TokenID is the API token's id (ViaToken).
	TokenID int64
}

// Options configure a Service.
type Options struct {
	// DB is where users, tokens and sessions live.
	DB *store.Store
	// JWTSecret signs bearer JWTs (config: security.jwt_secret, JWT_SECRET).
	JWTSecret string
	// JWTTTL is how long a bearer JWT lasts. Default 1h.
	JWTTTL time.Duration
	// SessionTTL is how long a session lasts. Default 24h.
	SessionTTL time.Duration
	// Params are the password hashing costs. Default DefaultParams.
	Params *Params
	// Logger; default none.
	Logger hclog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Service authenticates requests and signs users in.
type Service struct {
	db         *store.Store
	jwt        *JWT
	sessionTTL time.Duration
	params     Params
	log        hclog.Logger
	now        func() time.Time
	// dummy is a hash no password matches (Params.Unmatchable), verified
	// when the username is unknown so that answers take as long as for a
	// wrong password.
	dummy string
}

// tokenTouchEvery is how stale an API token's last use may get before a
// request records it again (one write a minute per token, not one per
// request).
const tokenTouchEvery = time.Minute

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.DB == nil {
		return nil, errors.New("auth: no database")
	}
	if o.JWTTTL == 0 {
		o.JWTTTL = time.Hour
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = 24 * time.Hour
	}
	if o.SessionTTL < time.Minute {
		return nil, fmt.Errorf("the session lifetime must be at least a minute, got %s", o.SessionTTL)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	params := DefaultParams
	if o.Params != nil {
		params = *o.Params
	}
	j, err := NewJWT([]byte(o.JWTSecret), o.JWTTTL, o.Now)
	if err != nil {
		return nil, err
	}
	dummy, err := params.Unmatchable()
	if err != nil {
		return nil, err
	}
	return &Service{db: o.DB, jwt: j, sessionTTL: o.SessionTTL, params: params, log: o.Logger.Named("auth"), now: o.Now, dummy: dummy}, nil
}

// SessionTTL is how long sessions last.
func (s *Service) SessionTTL() time.Duration { return s.sessionTTL }

// HashPassword hashes a password with the service's parameters. It does
// not apply the policy: call CheckPassword first.
func (s *Service) HashPassword(ctx context.Context, password string) (string, error) {
	return s.params.Hash(ctx, password)
}

// Authenticate finds who made a request: from "Authorization: Bearer" (a
// JWT, or an API token starting with "mbt_"), else from the session
// cookie. No credentials: nil, nil. Refused credentials: an error wrapping
// ErrUnauthenticated whose message says why and what to do. Any other
// error is the database's.
//
// A request with an Authorization header is judged by it alone: a bad
// header is not rescued by a good cookie.
func (s *Service) Authenticate(ctx context.Context, r *http.Request) (*Identity, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		cred = strings.TrimSpace(cred)
		if !strings.EqualFold(scheme, "Bearer") || cred == "" {
			return nil, refuse(ErrInvalidCredentials, `the Authorization header must be "Bearer <token>", with a JWT from POST /api/v1/auth/login or an API token (mbt_...)`)
		}
		if IsAPIToken(cred) {
			return s.authToken(ctx, cred)
		}
		return s.authJWT(ctx, cred)
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	return s.authSession(ctx, c.Value)
}

// user reads the user behind a credential and refuses a missing or
// disabled one.
func (s *Service) user(ctx context.Context, id int64, what string) (*store.User, error) {
	u, err := s.db.Q().GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse(ErrInvalidCredentials, "the "+what+"'s user no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, refuse(ErrUserDisabled, fmt.Sprintf("the account %q is disabled; ask an administrator to enable it", u.Username))
	}
	return u, nil
}

func (s *Service) authJWT(ctx context.Context, token string) (*Identity, error) {
	c, err := s.jwt.Verify(token)
	if err != nil {
		return nil, err
	}
	id, _ := c.UserID()
	u, err := s.user(ctx, id, "bearer token")
	if err != nil {
		return nil, err
	}
	// The generation, not a time: a change in the same second as the
	// token's issue ends it too.
	if *c.Generation != u.Generation {
		return nil, refuse(ErrRevoked, "the bearer token was issued before the account's password, role or status changed; sign in again")
	}
	return &Identity{User: u, Via: ViaJWT}, nil
}

func (s *Service) authToken(ctx context.Context, token string) (*Identity, error) {
	if !wellFormed(strings.TrimPrefix(token, TokenPrefix)) {
		return nil, refuse(ErrInvalidCredentials, "the API token is malformed; copy it again, it is "+TokenPrefix+" and 43 more characters")
	}
	q := s.db.Q()
	t, err := q.GetAPITokenByHash(ctx, Digest(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse(ErrInvalidCredentials, "unknown API token (it may have been deleted with its user); create a new one")
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !t.RevokedAt.IsZero() {
		return nil, refuse(ErrRevoked, fmt.Sprintf("the API token %s (%q) was revoked at %s; create a new one", t.Prefix, t.Name, t.RevokedAt.Format(time.RFC3339)))
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return nil, refuse(ErrExpired, fmt.Sprintf("the API token %s (%q) expired at %s; create a new one", t.Prefix, t.Name, t.ExpiresAt.Format(time.RFC3339)))
	}
	u, err := s.user(ctx, t.UserID, "API token")
	if err != nil {
		return nil, err
	}
	if now.Sub(t.LastUsedAt) >= tokenTouchEvery {
		if err := q.TouchAPIToken(ctx, t.ID); err != nil {
			s.log.Warn("record API token use", "token_id", t.ID, "error", err)
		}
	}
	return &Identity{User: u, Via: ViaToken, TokenID: t.ID}, nil
}

func (s *Service) authSession(ctx context.Context, value string) (*Identity, error) {
	invalid := refuse(ErrInvalidCredentials, "the session is not valid (signed out, or the password changed); sign in again")
	if !wellFormed(value) {
		return nil, invalid
	}
	q := s.db.Q()
	digest := Digest(value)
	sess, err := q.GetSession(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(sess.ExpiresAt) {
		if err := q.DeleteSession(ctx, digest); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("delete expired session", "user_id", sess.UserID, "error", err)
		}
		return nil, refuse(ErrExpired, "the session has expired; sign in again")
	}
	u, err := s.user(ctx, sess.UserID, "session")
	if err != nil {
		return nil, err
	}
	if sess.UserGeneration != u.Generation {
		// Begun before a password, role or status change (a sign-in that
		// raced the change): the change ends it, as it ended the others.
		if err := q.DeleteSession(ctx, digest); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("delete a session the account's change ended", "user_id", sess.UserID, "error", err)
		}
		return nil, refuse(ErrRevoked, "the session began before the account's password, role or status changed; sign in again")
	}
	return &Identity{User: u, Via: ViaSession}, nil
}

// Login checks a username and password and records the sign-in. Unknown
// users and wrong passwords get the same error, ErrBadCredentials, after
// the same work; a disabled user with the right password gets
// ErrUserDisabled. A hash made with older parameters is replaced.
func (s *Service) Login(ctx context.Context, username, password string) (*store.User, error) {
	bad := refuse(ErrBadCredentials, "wrong username or password")
	if len(password) > MaxPasswordBytes || password == "" {
		return nil, bad
	}
	q := s.db.Q()
	u, err := q.GetUserByUsername(ctx, NormalizeUsername(username))
	if errors.Is(err, store.ErrNotFound) {
		_, _ = VerifyPassword(ctx, s.dummy, password)
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	ok, err := VerifyPassword(ctx, u.PasswordHash, password)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// A damaged hash: the user cannot sign in until an administrator
		// sets a new password. Say so in the log, not to the caller.
		s.log.Error("unusable password hash; set a new password with `mikrobill user set-password`", "user", u.Username, "error", err)
		return nil, bad
	}
	if !ok {
		return nil, bad
	}
	if u.Disabled {
		return nil, refuse(ErrUserDisabled, fmt.Sprintf("the account %q is disabled; ask an administrator to enable it", u.Username))
	}
	rehash := ""
	if NeedsRehash(u.PasswordHash, s.params) {
		if rehash, err = s.params.Hash(ctx, password); err != nil {
			s.log.Warn("rehash password", "user", u.Username, "error", err)
			rehash = ""
		}
	}
	if err := q.RecordLogin(ctx, u.ID, rehash); err != nil {
		return nil, err
	}
	u.LastLoginAt = s.now().UTC()
	return u, nil
}

// IssueJWT returns a bearer JWT for a user and when it expires.
func (s *Service) IssueJWT(u *store.User) (string, time.Time, error) {
	return s.jwt.Issue(u.ID, u.Role, u.Generation)
}

// VerifyJWT checks a bearer JWT's signature and claims (not the user: use
// Authenticate for requests).
func (s *Service) VerifyJWT(token string) (*Claims, error) { return s.jwt.Verify(token) }

// StartSession creates a session for a user and returns the cookie to set
// and when the session ends. remote is the client's address, kept with the
// session; secure sets the cookie's Secure attribute.
func (s *Service) StartSession(ctx context.Context, u *store.User, remote string, secure bool) (*http.Cookie, time.Time, error) {
	value, digest, err := NewSessionValue()
	if err != nil {
		return nil, time.Time{}, err
	}
	sess := &store.Session{IDHash: digest, UserID: u.ID, ExpiresAt: s.now().Add(s.sessionTTL), Remote: remote, UserGeneration: u.Generation}
	if err := s.db.Q().CreateSession(ctx, sess); err != nil {
		return nil, time.Time{}, err
	}
	return NewSessionCookie(value, s.sessionTTL, secure), sess.ExpiresAt, nil
}

// EndSession deletes the session named by the request's cookie, if any,
// and returns the cookie that clears it in the browser.
func (s *Service) EndSession(ctx context.Context, r *http.Request, secure bool) (*http.Cookie, error) {
	if c, err := r.Cookie(SessionCookie); err == nil && wellFormed(c.Value) {
		if err := s.db.Q().DeleteSession(ctx, Digest(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return ClearSessionCookie(secure), nil
}

// CreateToken makes an API token for a user, stores its digest, and
// returns the token (to show once) with its record. A zero expiresAt means
// it never expires.
func (s *Service) CreateToken(ctx context.Context, userID int64, name string, expiresAt time.Time) (string, *store.APIToken, error) {
	return CreateToken(ctx, s.db, userID, name, expiresAt)
}

// CreateToken is Service.CreateToken on a store without a service (the
// `mikrobill user token` command).
func CreateToken(ctx context.Context, db *store.Store, userID int64, name string, expiresAt time.Time) (string, *store.APIToken, error) {
	token, digest, prefix, err := NewAPIToken()
	if err != nil {
		return "", nil, err
	}
	t := &store.APIToken{UserID: userID, Name: name, Hash: digest, Prefix: prefix, ExpiresAt: expiresAt}
	if err := db.Q().CreateAPIToken(ctx, t); err != nil {
		return "", nil, err
	}
	return token, t, nil
}
