-- +goose Up
-- Renewals, recurring bills and customer balances (the same as
-- migrations/postgres/00007_renewals_balance.sql).

-- A plan is prepaid (paid before its period, as before) or postpaid
-- monthly (the next period's invoice is made before the period ends).
ALTER TABLE plans ADD COLUMN billing_type TEXT NOT NULL DEFAULT 'prepaid' CHECK (billing_type IN ('prepaid', 'postpaid'));

-- An invoice buys a plan or tops up the customer's balance (no plan).
-- new_subscription: paying it starts a parallel subscription instead of
-- renewing the customer's current one on the same plan. period_start: the
-- period a postpaid bill is for (the subscription's end when it was made);
-- one bill per subscription and period, whichever host or run makes it.
ALTER TABLE invoices ADD COLUMN kind TEXT NOT NULL DEFAULT 'plan' CHECK (kind IN ('plan', 'topup'));
ALTER TABLE invoices ADD COLUMN new_subscription BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE invoices ADD COLUMN period_start BIGINT;

-- invoices.plan_id becomes nullable (a top-up has no plan). SQLite cannot
-- drop a NOT NULL constraint with ALTER TABLE; removing one does not
-- change how rows are stored, so the table's definition is edited in
-- place, as SQLite's documentation describes for this case
-- (https://www.sqlite.org/lang_altertable.html#otheralter), and the
-- schema is reloaded (RESET). The billing service keeps plan_id set on
-- every invoice of kind 'plan'.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'plan_id         BIGINT NOT NULL REFERENCES plans (id)', 'plan_id         BIGINT REFERENCES plans (id)')
    WHERE type = 'table' AND name = 'invoices';
PRAGMA writable_schema = RESET;
CREATE UNIQUE INDEX invoices_period ON invoices (subscription_id, period_start) WHERE period_start IS NOT NULL;

-- The balance ledger: every change of a customer's balance, signed, with
-- who and why. An invoice is paid from the balance once, and a top-up
-- credits it once (the partial unique indexes).
CREATE TABLE balance_entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    amount      BIGINT NOT NULL CHECK (amount <> 0),
    currency    TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('topup', 'cash', 'invoice_payment', 'refund', 'adjustment')),
    invoice_id  BIGINT REFERENCES invoices (id),
    reference   TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX balance_entries_customer ON balance_entries (customer_id, id);
CREATE UNIQUE INDEX balance_entries_invoice_payment ON balance_entries (invoice_id) WHERE kind = 'invoice_payment';
CREATE UNIQUE INDEX balance_entries_topup ON balance_entries (invoice_id) WHERE kind = 'topup';

-- The sum of a customer's entries per currency, kept in the transaction
-- that adds an entry; the check refuses any change that would take it
-- below zero.
CREATE TABLE customer_balances (
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    currency    TEXT NOT NULL,
    balance     BIGINT NOT NULL CHECK (balance >= 0),
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (customer_id, currency)
);

-- +goose Down
DROP TABLE customer_balances;
DROP TABLE balance_entries;
DROP INDEX invoices_period;
DELETE FROM invoice_credits WHERE invoice_id IN (SELECT id FROM invoices WHERE kind = 'topup');
DELETE FROM payments WHERE invoice_id IN (SELECT id FROM invoices WHERE kind = 'topup');
DELETE FROM invoices WHERE kind = 'topup';
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'plan_id         BIGINT REFERENCES plans (id)', 'plan_id         BIGINT NOT NULL REFERENCES plans (id)')
    WHERE type = 'table' AND name = 'invoices';
PRAGMA writable_schema = RESET;
ALTER TABLE invoices DROP COLUMN period_start;
ALTER TABLE invoices DROP COLUMN new_subscription;
ALTER TABLE invoices DROP COLUMN kind;
ALTER TABLE plans DROP COLUMN billing_type;
