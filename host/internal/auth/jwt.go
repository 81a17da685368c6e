package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the JWTs' "iss" claim.
const Issuer = "mikrobill"

// Claims are a bearer JWT's claims: sub (the user id), role, gen, iss,
// iat, exp and jti.
type Claims struct {
	// Role is the user's role when the token was issued. Requests use the
	// role the user has now, read from the database.
	Role string `json:"role"`
	// Generation is the user's generation when the token was issued
	// (store.User.Generation): the token is refused once a password, role
	// or status change moved it on. Required.
	Generation *int64 `json:"gen"`
	jwt.RegisteredClaims
}

// UserID returns the subject as a user id.
func (c *Claims) UserID() (int64, error) {
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("subject %q is not a user id", c.Subject)
	}
	return id, nil
}

// JWT issues and verifies HS256 bearer tokens.
type JWT struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser
}

// NewJWT returns a JWT signer for secret (the configured JWT_SECRET) whose
// tokens last ttl. now is the clock (nil: time.Now).
func NewJWT(secret []byte, ttl time.Duration, now func() time.Time) (*JWT, error) {
	if len(secret) == 0 {
		return nil, errors.New("no JWT secret: set JWT_SECRET (security.jwt_secret) to at least 32 random characters")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("the bearer token lifetime must be positive, got %s", ttl)
	}
	if now == nil {
		now = time.Now
	}
	return &JWT{
		secret: secret, ttl: ttl, now: now,
		parser: jwt.NewParser(
			// Only HS256: "none", other HMACs and public-key algorithms
			// (the classic key-confusion attack) are refused.
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
			jwt.WithLeeway(5*time.Second),
		),
	}, nil
}

// TTL is how long issued tokens last.
func (j *JWT) TTL() time.Duration { return j.ttl }

// Issue signs a token for a user at a generation (store.User.Generation)
// and returns it with its expiry.
func (j *JWT) Issue(userID int64, role string, generation int64) (string, time.Time, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", time.Time{}, err
	}
	now := j.now()
	exp := now.Add(j.ttl)
	claims := Claims{Role: role, Generation: &generation, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    Issuer,
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(j.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign bearer token: %w", err)
	}
	return s, exp.Truncate(time.Second), nil
}

// Verify checks a token's signature, algorithm, issuer, times and claims
// and returns its claims. Errors wrap ErrInvalidCredentials or ErrExpired.
func (j *JWT) Verify(token string) (*Claims, error) {
	var c Claims
	_, err := j.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("algorithm %v is not accepted", t.Header["alg"])
		}
		return j.secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, refuse(ErrExpired, "the bearer token has expired; sign in again (POST /api/v1/auth/login)")
	case err != nil:
		return nil, refuse(ErrInvalidCredentials, "the bearer token is not valid (malformed, wrong signature, or not issued by this host); sign in again")
	}
	if _, err := c.UserID(); err != nil || c.ID == "" || c.IssuedAt == nil || c.Generation == nil {
		return nil, refuse(ErrInvalidCredentials, "the bearer token lacks its subject, id, issue time or generation (tokens of an older version lack the generation); sign in again")
	}
	return &c, nil
}
