-- Sessions: one row per signed-in browser, keyed by the SHA-256 of its id.
-- The tokens are sealed (AES-256-GCM) in `sealed`; `key_id` names the key.
CREATE TABLE sessions (
    session_key   TEXT PRIMARY KEY NOT NULL,
    key_id        TEXT NOT NULL,
    sealed        BLOB NOT NULL,
    user_id       TEXT,
    expires_at    INTEGER NOT NULL,
    has_refresh   INTEGER NOT NULL,
    generation    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

-- Logins started and not yet called back, keyed by the SHA-256 of `state`.
CREATE TABLE pending_logins (
    state_key    TEXT PRIMARY KEY NOT NULL,
    browser_key  TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX pending_logins_expiry ON pending_logins (expires_at);
