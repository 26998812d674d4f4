-- When a pending login was issued (microseconds, strictly increasing within
-- a process): one browser keeps only its newest few, and this orders them.
ALTER TABLE pending_logins ADD COLUMN issued_us BIGINT NOT NULL DEFAULT 0;
CREATE INDEX pending_logins_browser ON pending_logins (browser_key, issued_us);

-- When the current access token was obtained (Unix seconds; 0 for rows
-- written before this column existed, which count as old). An upstream 401
-- forces a refresh only for a token at least 30 s old.
ALTER TABLE sessions ADD COLUMN obtained_at BIGINT NOT NULL DEFAULT 0;
