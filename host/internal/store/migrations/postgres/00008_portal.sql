-- +goose Up
-- The customer portal (/portal): customers' sessions, apart from the
-- admin users' (the cookie holds a random value, the table its SHA-256),
-- and the one-time sign-in codes sent to a phone (keyed digest of the
-- code, one active per phone, with its failed attempts). Both go with their
-- customer. The same as migrations/sqlite/00008_portal.sql.
CREATE TABLE portal_sessions (
    id_hash     TEXT PRIMARY KEY,                   -- SHA-256 of the cookie value, hex
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    remote      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX portal_sessions_customer ON portal_sessions (customer_id);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);

CREATE TABLE portal_codes (
    phone       TEXT PRIMARY KEY,                   -- E.164; one active code per phone
    code_hash   TEXT NOT NULL,                      -- keyed digest of the code
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,         -- wrong codes tried
    created_at  BIGINT NOT NULL
);
CREATE INDEX portal_codes_customer ON portal_codes (customer_id);

-- +goose Down
DROP TABLE portal_codes;
DROP TABLE portal_sessions;
