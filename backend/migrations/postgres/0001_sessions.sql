-- Sessions: one row per signed-in browser, keyed by the SHA-256 of its id.
-- The tokens are sealed (AES-256-GCM) in `sealed`; `key_id` names the key.
-- Same columns and meaning as the SQLite schema, so both stores share one
-- row codec. A refresh holds this row's lock (`SELECT … FOR UPDATE`).
CREATE TABLE sessions (
    session_key   TEXT PRIMARY KEY,
    key_id        TEXT NOT NULL,
    sealed        BYTEA NOT NULL,
    user_id       TEXT,
    expires_at    BIGINT NOT NULL,
    has_refresh   BOOLEAN NOT NULL,
    generation    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

-- Logins started and not yet called back, keyed by the SHA-256 of `state`.
CREATE TABLE pending_logins (
    state_key    TEXT PRIMARY KEY,
    browser_key  TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    sealed       BYTEA NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX pending_logins_expiry ON pending_logins (expires_at);
