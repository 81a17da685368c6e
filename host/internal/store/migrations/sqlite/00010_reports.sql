-- +goose Up
-- The reports (store/reports.go) and the dashboard sum the credits by the
-- time of the credit, and count the subscriptions by when they started.
CREATE INDEX invoice_credits_credited_at ON invoice_credits (credited_at);
CREATE INDEX subscriptions_starts_at ON subscriptions (starts_at);

-- +goose Down
DROP INDEX subscriptions_starts_at;
DROP INDEX invoice_credits_credited_at;
