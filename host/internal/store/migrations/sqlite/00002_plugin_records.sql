-- +goose Up
-- The plugins' durable store (sdk.Host's Store* calls): one namespace per
-- plugin, records kept across restarts and never evicted, each until it is
-- deleted or its expires_at (Unix milliseconds, UTC; NULL: never) passes.
-- Expired rows read as absent and are removed by the plugin_records_sweep
-- job. Keys are bytes, compared and ordered bytewise on both backends, so
-- a prefix is a key range (key >= prefix AND key < its successor) with no
-- LIKE wildcards and no collation to get in the way.
CREATE TABLE plugin_records (
    plugin     TEXT NOT NULL,
    key        BLOB NOT NULL,
    value      BLOB NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (plugin, key)
);

CREATE INDEX plugin_records_expires_at ON plugin_records (expires_at) WHERE expires_at IS NOT NULL;

-- +goose Down
DROP TABLE plugin_records;
