-- +goose Up
-- The billing domain. Times are Unix milliseconds (UTC) in BIGINT columns on
-- both backends; amounts are in the currency's minor units.

CREATE TABLE router_locations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,              -- the router plugin's location id, e.g. "main"
    description TEXT NOT NULL DEFAULT '',
    plugin      TEXT NOT NULL DEFAULT 'mikrotik',  -- the router plugin that manages it
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE plans (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL CHECK (kind IN ('hotspot', 'pppoe')),
    rate_limit         TEXT NOT NULL DEFAULT '',    -- RouterOS rx/tx burst syntax
    shared_users       INTEGER NOT NULL DEFAULT 1 CHECK (shared_users >= 0),
    time_limit_seconds BIGINT NOT NULL DEFAULT 0 CHECK (time_limit_seconds >= 0),
    data_limit_bytes   BIGINT NOT NULL DEFAULT 0 CHECK (data_limit_bytes >= 0),
    validity_seconds   BIGINT NOT NULL CHECK (validity_seconds > 0),
    price_amount       BIGINT NOT NULL CHECK (price_amount >= 0),
    currency           TEXT NOT NULL,
    profile            TEXT NOT NULL DEFAULT '',    -- router profile; empty: derived from the name
    isolation_profile  TEXT NOT NULL DEFAULT '',    -- used at expiry; empty: remove instead
    active             BOOLEAN NOT NULL DEFAULT TRUE,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE customers (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                TEXT NOT NULL,
    phone               TEXT NOT NULL DEFAULT '',   -- E.164
    email               TEXT NOT NULL DEFAULT '',
    router_username     TEXT NOT NULL,
    router_password_enc TEXT NOT NULL,              -- encrypted with the configured key
    location_id         BIGINT NOT NULL REFERENCES router_locations (id),
    notes               TEXT NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (location_id, router_username)
);
CREATE INDEX customers_phone ON customers (phone);

CREATE TABLE subscriptions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    plan_id     BIGINT NOT NULL REFERENCES plans (id),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'active', 'isolated', 'expired', 'cancelled')),
    starts_at   BIGINT,
    expires_at  BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
CREATE INDEX subscriptions_due ON subscriptions (status, expires_at);

CREATE TABLE voucher_batches (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id     BIGINT NOT NULL REFERENCES plans (id),
    location_id BIGINT NOT NULL REFERENCES router_locations (id),
    size        INTEGER NOT NULL CHECK (size > 0),
    prefix      TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE vouchers (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id                BIGINT NOT NULL REFERENCES voucher_batches (id),
    code                    TEXT NOT NULL UNIQUE,
    redeemed_at             BIGINT,
    redeemed_by_customer_id BIGINT REFERENCES customers (id),
    subscription_id         BIGINT REFERENCES subscriptions (id),
    created_at              BIGINT NOT NULL
);
CREATE INDEX vouchers_batch ON vouchers (batch_id);

CREATE TABLE invoices (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,           -- the order id gateways see
    customer_id     BIGINT NOT NULL REFERENCES customers (id),
    subscription_id BIGINT REFERENCES subscriptions (id),
    plan_id         BIGINT NOT NULL REFERENCES plans (id),
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('unpaid', 'paid', 'failed', 'expired', 'cancelled')),
    gateway         TEXT NOT NULL DEFAULT '',
    payment_url     TEXT NOT NULL DEFAULT '',
    due_at          BIGINT,
    paid_at         BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX invoices_customer ON invoices (customer_id);
CREATE INDEX invoices_status ON invoices (status);

CREATE TABLE payments (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id  BIGINT NOT NULL REFERENCES invoices (id),
    gateway     TEXT NOT NULL,
    external_id TEXT NOT NULL,                      -- the gateway's payment id
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'cancelled', 'refunded')),
    raw_event   TEXT NOT NULL DEFAULT '',           -- the gateway's last event or response, as received
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (gateway, external_id)
);
CREATE INDEX payments_invoice ON payments (invoice_id);

-- An invoice is credited (paid, or covered by a voucher) exactly once: the
-- primary key refuses a second credit, whatever races to make it.
CREATE TABLE invoice_credits (
    invoice_id  BIGINT PRIMARY KEY REFERENCES invoices (id),
    payment_id  BIGINT REFERENCES payments (id),
    voucher_id  BIGINT REFERENCES vouchers (id),
    credited_at BIGINT NOT NULL
);

CREATE TABLE message_templates (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,                -- e.g. invoice_created, payment_received, expiry_reminder, expired
    channel    TEXT NOT NULL DEFAULT 'whatsapp',
    body       TEXT NOT NULL,                       -- with [[name]], [[package]], [[price]], [[expired_date]], [[invoice]], [[payment_link]]
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,                    -- argon2id, PHC string
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    last_login_at BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,              -- SHA-256 of the token, hex
    prefix       TEXT NOT NULL,                     -- the first characters, to recognise it
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,                    -- SHA-256 of the cookie value, hex
    user_id    BIGINT NOT NULL REFERENCES users (id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    remote     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE plugin_settings (
    plugin        TEXT PRIMARY KEY,
    settings_json TEXT NOT NULL,                    -- secret fields encrypted, "enc:v1:..."
    updated_by    TEXT NOT NULL DEFAULT '',
    updated_at    BIGINT NOT NULL
);

-- Audit events the host keeps itself when no audit plugin is installed, so
-- none is lost.
CREATE TABLE audit_log (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      TEXT NOT NULL UNIQUE,
    occurred_at   BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL DEFAULT '',
    resource_id   TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL DEFAULT 'success',
    metadata_json TEXT NOT NULL DEFAULT '{}',
    delivered     BOOLEAN NOT NULL DEFAULT FALSE    -- also handed to an audit plugin
);

-- Counters for invoice numbers and the like, incremented inside transactions.
CREATE TABLE sequences (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- +goose Down
DROP TABLE sequences;
DROP TABLE audit_log;
DROP TABLE plugin_settings;
DROP TABLE sessions;
DROP TABLE api_tokens;
DROP TABLE users;
DROP TABLE message_templates;
DROP TABLE invoice_credits;
DROP TABLE payments;
DROP TABLE invoices;
DROP TABLE vouchers;
DROP TABLE voucher_batches;
DROP TABLE subscriptions;
DROP TABLE customers;
DROP TABLE plans;
DROP TABLE router_locations;
