-- +goose Up
-- Voucher batches made as hotspot logins (kind 'hotspot'): each code is a
-- hotspot user on the location's router (the code is its name and its
-- password). login_state follows one login: 'pending' (not yet on the
-- router), 'ready' (on the router, unused), 'active' (first login seen;
-- first_login_at and expires_at set), 'expired' (removed or isolated on the
-- router). Redeem-kind vouchers keep ''. Codes stay unique across all
-- locations (vouchers.code is UNIQUE), so also per location. The same as
-- migrations/sqlite/00006_hotspot_vouchers.sql.
ALTER TABLE voucher_batches ADD COLUMN kind TEXT NOT NULL DEFAULT 'redeem' CHECK (kind IN ('redeem', 'hotspot'));
ALTER TABLE voucher_batches ADD COLUMN provision_error TEXT NOT NULL DEFAULT '';
ALTER TABLE vouchers ADD COLUMN login_state TEXT NOT NULL DEFAULT '' CHECK (login_state IN ('', 'pending', 'ready', 'active', 'expired'));
ALTER TABLE vouchers ADD COLUMN first_login_at BIGINT;
ALTER TABLE vouchers ADD COLUMN expires_at BIGINT;
CREATE INDEX vouchers_login ON vouchers (login_state, expires_at);

-- +goose Down
DROP INDEX vouchers_login;
ALTER TABLE vouchers DROP COLUMN expires_at;
ALTER TABLE vouchers DROP COLUMN first_login_at;
ALTER TABLE vouchers DROP COLUMN login_state;
ALTER TABLE voucher_batches DROP COLUMN provision_error;
ALTER TABLE voucher_batches DROP COLUMN kind;
