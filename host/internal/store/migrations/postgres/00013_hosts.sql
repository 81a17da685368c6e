-- +goose Up
-- The hosts that share this store (several hosts on one PostgreSQL; on
-- the embedded SQLite there is one): each running host keeps its row
-- fresh every heartbeat (package hosts). A row whose heartbeat is older
-- than the gone bound is a host that died; a clean shutdown sets
-- stopped_at. plugins_json is the host's view of its plugins (their
-- states, as GET /health/plugins shows them) at its last heartbeat.
CREATE TABLE hosts (
    id            TEXT PRIMARY KEY,          -- server.host_id, or kept in <data_dir>/host-id
    hostname      TEXT NOT NULL DEFAULT '',
    address       TEXT NOT NULL DEFAULT '',  -- the host's own URL (public_url or its listener)
    version       TEXT NOT NULL DEFAULT '',
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL,
    stopped_at    BIGINT,
    plugins_json  TEXT NOT NULL DEFAULT '[]',
    -- Digests of the host's shared secrets (JWT, cookie and encryption
    -- keys): a host whose secrets differ from a live host's refuses to
    -- start, for a token or cookie one host made must work on every other.
    secrets_json  TEXT NOT NULL DEFAULT '{}'
);

-- +goose Down
DROP TABLE hosts;
