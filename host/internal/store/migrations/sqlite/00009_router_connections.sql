-- +goose Up
-- A router's connection: how the router plugin reaches the location's
-- router (its RouterOS API). One row per location at most; a location
-- without one is managed as before (the router plugin's own settings).
-- The password is encrypted with the store's cipher ("enc:v1:..."). The
-- same as migrations/postgres/00009_router_connections.sql.
CREATE TABLE router_connections (
    location_id  INTEGER PRIMARY KEY REFERENCES router_locations (id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    port         INTEGER NOT NULL,
    tls          INTEGER NOT NULL DEFAULT 0,
    ca_pem       TEXT NOT NULL DEFAULT '',
    cert_sha256  TEXT NOT NULL DEFAULT '',
    server_name  TEXT NOT NULL DEFAULT '',
    username     TEXT NOT NULL,
    password_enc TEXT NOT NULL DEFAULT '',
    updated_at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE router_connections;
