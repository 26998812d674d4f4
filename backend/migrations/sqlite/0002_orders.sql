-- Order requests that carried an OrderConfirmID, keyed by the SHA-256 of the
-- user (or session) and the confirm id(s). `state` is in_flight (sent or
-- about to be, by `owner`, until `lease_until`), done (a definite answer,
-- sealed in `sealed` with the key `key_id` names) or unknown (the last
-- attempt's outcome is not known; `status` is the answer it got).
-- A row is forgotten after `expires_at` (24 hours).
CREATE TABLE order_ledger (
    order_key    TEXT PRIMARY KEY NOT NULL,
    state        TEXT NOT NULL,
    owner        TEXT NOT NULL,
    lease_until  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       INTEGER,
    key_id       TEXT,
    sealed       BLOB
);
CREATE INDEX order_ledger_expiry ON order_ledger (expires_at);
