-- +goose Up
-- Plugin installs, upgrades, rollbacks and removes, as an admin asked for
-- them through one host (pluginstall): what, from which source, the
-- whole-folder hash of the target as plugins.lock pins it, and how it
-- ended. Every host sharing the store carries out the latest finished
-- action of each plugin at its start, from the same verified target
-- (the same folder hash) (pluginstall.Converge).
CREATE TABLE plugin_actions (
    id             TEXT PRIMARY KEY,          -- the action's id (hex)
    action         TEXT NOT NULL CHECK (action IN ('install', 'upgrade', 'rollback', 'remove')),
    plugin         TEXT NOT NULL,
    version        TEXT NOT NULL DEFAULT '',  -- the version made active ('' for a remove)
    from_version   TEXT NOT NULL DEFAULT '',  -- the version active before
    source         TEXT NOT NULL DEFAULT '',  -- a marketplace's name, or a folder's path
    folder_sha256  TEXT NOT NULL DEFAULT '',  -- the target folder's hash in plugins.lock
    state          TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    error          TEXT NOT NULL DEFAULT '',
    requested_by   TEXT NOT NULL DEFAULT '',
    host           TEXT NOT NULL DEFAULT '',  -- the host that carried it out first
    created_at     BIGINT NOT NULL,
    finished_at    BIGINT
);
CREATE INDEX plugin_actions_plugin ON plugin_actions (plugin, created_at);

-- +goose Down
DROP TABLE plugin_actions;
