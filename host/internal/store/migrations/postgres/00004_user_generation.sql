-- +goose Up
-- A user's generation moves on every change of password, role or status;
-- bearer JWTs and sessions carry the generation they were issued at and are
-- refused once it moved (comparing times missed changes made in the same
-- second). The same as migrations/sqlite/00004_user_generation.sql.
ALTER TABLE users ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN user_generation BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sessions DROP COLUMN user_generation;
ALTER TABLE users DROP COLUMN generation;
