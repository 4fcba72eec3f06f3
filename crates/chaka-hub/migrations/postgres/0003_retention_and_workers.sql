-- chaka hub schema, part 3: the age indexes of the working records that the retention sweep
-- deletes once they are older than the report retention (SMS codes by expiry, SMS messages and
-- idempotency keys by creation), so that each sweep reads only what it deletes; and the fan-out
-- workers alive on this database (a heartbeat each), over which the banks are shared out. The
-- same table, column and index names on both databases.

CREATE INDEX otps_by_expiry ON otps(expires_at);
CREATE INDEX outbox_by_age ON outbox(created_at);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);

CREATE TABLE workers (
    worker_id  TEXT PRIMARY KEY,                  -- the fan-out's lease owner name
    seen_at    TEXT COLLATE "C" NOT NULL          -- its last heartbeat
);
