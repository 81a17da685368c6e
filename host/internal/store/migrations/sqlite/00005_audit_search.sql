-- +goose Up
-- The audit page and GET /api/v1/audit search the log newest first, paged
-- by keyset on (occurred_at, id), filtered by actor, action or resource.
-- Each index serves one of those walks without sorting. The same as
-- migrations/postgres/00005_audit_search.sql.
CREATE INDEX audit_log_time ON audit_log (occurred_at, id);
CREATE INDEX audit_log_actor ON audit_log (actor, occurred_at, id);
CREATE INDEX audit_log_action ON audit_log (action, occurred_at, id);
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id, occurred_at, id);

-- +goose Down
DROP INDEX audit_log_resource;
DROP INDEX audit_log_action;
DROP INDEX audit_log_actor;
DROP INDEX audit_log_time;
