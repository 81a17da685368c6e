-- +goose Up
-- Which host runs each singleton plugin (a manifest's "singleton": true):
-- one row per such plugin, held by one host at a time (package hosts,
-- Leases). The holder renews its row every heartbeat; a row not renewed
-- for the gone bound (four heartbeats), or whose host shut down cleanly,
-- may be taken by another live host, in one atomic upsert. A host that
-- stops cleanly deletes its rows, so another takes over at its next
-- heartbeat. Times are the database's clock in unix milliseconds.
CREATE TABLE singleton_leases (
    plugin       TEXT PRIMARY KEY,
    host_id      TEXT NOT NULL,
    acquired_at  BIGINT NOT NULL,
    renewed_at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE singleton_leases;
