-- chaka hub schema, part 1 (PostgreSQL): accounts, sessions, codes, consents, inquiries,
-- outbox, audit. The same tables, columns, keys and index names as migrations/sqlite/0001 (a
-- test compares the two trees). Personal fields are sealed by the vault (XChaCha20-Poly1305)
-- and found by blind index (HMAC-SHA256); no ID number, name or phone is stored in clear.
--
-- Types: BYTEA for SQLite's BLOB, BIGINT for INTEGER. Times stay RFC 3339 UTC text with a
-- fixed number of fraction digits, as on SQLite (one formatting and parsing path for both
-- stores); they are declared COLLATE "C" so that they compare byte by byte, which orders them
-- as times whatever the database's default collation. JSON values stay text for the same
-- reason.

CREATE TABLE accounts (
    account_id        TEXT PRIMARY KEY,            -- UUIDv7
    id_index          BYTEA NOT NULL UNIQUE,       -- blind index of the ID number: one account per person
    id_sealed         BYTEA NOT NULL,
    name_sealed       BYTEA NOT NULL,
    phone_index       BYTEA NOT NULL UNIQUE,
    phone_sealed      BYTEA NOT NULL,
    region            TEXT NOT NULL,               -- province prefix of the ID number (pilot gating)
    password_hash     TEXT NOT NULL,               -- Argon2id PHC string
    verified_at       TEXT COLLATE "C",            -- real-name verified (identity registry)
    phone_changed_at  TEXT COLLATE "C",
    pin_verifier      TEXT,                        -- keyed Argon2id; NULL until a PIN is set
    user_public_key   BYTEA,                       -- X25519, reports are sealed to it
    user_key_salt     BYTEA,
    user_key_wrapped  BYTEA,                       -- the X25519 secret wrapped under the PIN
    key_generation    BIGINT NOT NULL DEFAULT 0,   -- +1 on PIN reset (older reports become unreadable)
    pin_failures      BIGINT NOT NULL DEFAULT 0,
    pin_locked_until  TEXT COLLATE "C",
    lang              TEXT NOT NULL DEFAULT 'zh',
    created_at        TEXT COLLATE "C" NOT NULL
);

CREATE TABLE sessions (
    token_hash     BYTEA PRIMARY KEY,              -- HMAC of the random token; the token is never stored
    session_id     TEXT NOT NULL UNIQUE,           -- public id for listing and revoking
    account_id     TEXT NOT NULL REFERENCES accounts(account_id),
    created_at     TEXT COLLATE "C" NOT NULL,
    last_seen_at   TEXT COLLATE "C" NOT NULL,
    expires_at     TEXT COLLATE "C" NOT NULL,      -- absolute expiry
    revoked_at     TEXT COLLATE "C",
    user_agent     TEXT
);
CREATE INDEX sessions_by_account ON sessions(account_id);

CREATE TABLE otps (
    otp_id       TEXT PRIMARY KEY,
    phone_index  BYTEA NOT NULL,
    purpose      TEXT NOT NULL,
    code_hash    BYTEA NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    expires_at   TEXT COLLATE "C" NOT NULL,
    used_at      TEXT COLLATE "C",
    attempts     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX otps_by_phone ON otps(phone_index, purpose, created_at);

CREATE TABLE inquiries (
    inquiry_id        TEXT PRIMARY KEY,            -- UUIDv7
    account_id        TEXT NOT NULL REFERENCES accounts(account_id),
    state             TEXT NOT NULL,               -- open | final | purged
    banks             TEXT NOT NULL,               -- JSON array of bank codes
    subject_sealed    BYTEA,                       -- vault-sealed {name,id_number,phone}; NULL once final
    user_public_key   BYTEA NOT NULL,
    key_generation    BIGINT NOT NULL,
    consent_version   TEXT NOT NULL,
    consent_hash      TEXT NOT NULL,
    consent_lang      TEXT NOT NULL,
    created_at        TEXT COLLATE "C" NOT NULL,
    deadline          TEXT COLLATE "C" NOT NULL,
    finalized_at      TEXT COLLATE "C",
    purge_after       TEXT COLLATE "C",
    purged_at         TEXT COLLATE "C"
);
CREATE INDEX inquiries_by_account ON inquiries(account_id, created_at);
CREATE INDEX inquiries_open ON inquiries(state, deadline);
CREATE INDEX inquiries_purge ON inquiries(state, purge_after);

CREATE TABLE idempotency_keys (
    account_id     TEXT NOT NULL,
    key            TEXT NOT NULL,
    request_hash   TEXT NOT NULL,
    status         BIGINT NOT NULL,
    response       BYTEA NOT NULL,
    created_at     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE outbox (
    message_id       TEXT PRIMARY KEY,
    idempotency_key  TEXT COLLATE "C" NOT NULL UNIQUE, -- e.g. ready:<inquiry_id>: at most one per event
    account_id       TEXT,
    phone_sealed     BYTEA NOT NULL,
    template         TEXT NOT NULL,
    params           TEXT NOT NULL,                -- JSON of non-secret parameters (dates, counts, ids)
    secret_sealed    BYTEA,                        -- vault-sealed secret parameter (an SMS code); NULL once sent
    lang             TEXT NOT NULL,
    state            TEXT NOT NULL,                -- pending | sent | failed
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TEXT COLLATE "C" NOT NULL,
    lease_owner      TEXT,
    lease_expires_at TEXT COLLATE "C",
    created_at       TEXT COLLATE "C" NOT NULL,
    sent_at          TEXT COLLATE "C"
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);

CREATE TABLE audit (
    audit_id     TEXT PRIMARY KEY,
    account_id   TEXT,
    kind         TEXT NOT NULL,                    -- registered | inquiry_submitted | report_opened | report_purged | pin_reset | ...
    inquiry_id   TEXT,
    detail       TEXT NOT NULL,                    -- JSON without card data or personal fields
    at           TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_by_account ON audit(account_id, at);
