-- +goose Up
-- A payment's raw_event holds only the gateway's notifications; what the
-- gateway answered when the payment was created (its CreatePayment answer)
-- is kept apart in create_response. Pending rows that nothing has touched
-- since they were created (updated_at = created_at) hold a create answer in
-- raw_event: it moves.
ALTER TABLE payments ADD COLUMN create_response TEXT NOT NULL DEFAULT '';
UPDATE payments SET create_response = raw_event, raw_event = '' WHERE status = 'pending' AND updated_at = created_at AND raw_event <> '';

-- +goose Down
UPDATE payments SET raw_event = create_response WHERE raw_event = '' AND create_response <> '';
ALTER TABLE payments DROP COLUMN create_response;
