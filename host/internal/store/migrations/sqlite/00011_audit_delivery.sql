-- +goose Up
-- With an audit plugin installed, audit_log is the durable queue of the
-- events still to hand to it (billing's audit_drain job sends them in id
-- order): the undelivered events are found through a partial index.
CREATE INDEX audit_log_undelivered ON audit_log (id) WHERE NOT delivered;

-- What the host trusts about the audit plugin's log, kept outside the
-- plugin so that a rolled-back or re-signed log file is detected: the
-- public key it first saw (pinned) and the largest checkpoint it saw.
CREATE TABLE audit_trust (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    public_key       TEXT NOT NULL,            -- base64 Ed25519 key, pinned when first seen
    pinned_at        BIGINT NOT NULL,
    known_size       BIGINT NOT NULL DEFAULT 0, -- the largest checkpoint size seen
    known_root       TEXT NOT NULL DEFAULT '',  -- base64 root hash of that checkpoint
    known_at         BIGINT                     -- when the host saw it
);

-- The results of the daily verification (billing's audit_verify job),
-- newest last.
CREATE TABLE audit_verifications (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    checked_at         BIGINT NOT NULL,
    ok                 INTEGER NOT NULL CHECK (ok IN (0, 1)),
    checked            BIGINT NOT NULL DEFAULT 0,
    first_bad_sequence BIGINT NOT NULL DEFAULT 0,
    first_bad_event_id TEXT NOT NULL DEFAULT '',
    reason             TEXT NOT NULL DEFAULT '',
    message            TEXT NOT NULL DEFAULT '',
    checkpoint_size    BIGINT NOT NULL DEFAULT 0,
    checkpoint_root    TEXT NOT NULL DEFAULT '',
    checkpoint_at      BIGINT,
    public_key         TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE audit_verifications;
DROP TABLE audit_trust;
DROP INDEX audit_log_undelivered;
