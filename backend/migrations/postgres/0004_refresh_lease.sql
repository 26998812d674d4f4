-- The refresh lease: a refresh holds its session by writing a random owner
-- and an expiry (milliseconds since the Unix epoch on the database's clock)
-- in one short statement, instead of keeping a transaction and its
-- connection open while the token endpoint answers. NULL: not held.
ALTER TABLE sessions ADD COLUMN refresh_lease_owner TEXT;
ALTER TABLE sessions ADD COLUMN refresh_lease_until BIGINT;
