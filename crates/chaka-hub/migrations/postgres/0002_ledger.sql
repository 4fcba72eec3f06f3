-- chaka hub schema, part 2 (PostgreSQL): the fan-out ledger (one leg per inquiry × bank, also
-- the job queue, claimed with FOR UPDATE SKIP LOCKED and leases), the banks' answers (outcome
-- and sealed list only, never plaintext), and answers that arrived after their leg was final
-- (recorded, ignored; without the sealed list). The same tables, columns, keys and index names
-- as migrations/sqlite/0002; types as in 0001 (times are fixed-width UTC text, COLLATE "C").

CREATE TABLE legs (
    inquiry_id        TEXT NOT NULL REFERENCES inquiries(inquiry_id),
    bank              TEXT NOT NULL,                -- bank code
    state             TEXT NOT NULL CHECK (state IN
                        ('pending', 'sending', 'awaiting_callback', 'answered', 'no_answer')),
    suite             TEXT NOT NULL,                -- the sealing suite asked of this bank
    attempt           BIGINT NOT NULL DEFAULT 0,    -- +1 per claim: the fencing token
    next_attempt_at   TEXT COLLATE "C" NOT NULL,    -- due time (pending) or re-ask time (awaiting_callback)
    deadline          TEXT COLLATE "C" NOT NULL,    -- after it: no_answer
    lease_owner       TEXT,                         -- worker holding a 'sending' leg
    lease_expires_at  TEXT COLLATE "C",
    last_error        TEXT,                         -- last failure, without personal data
    answered_at       TEXT COLLATE "C",             -- when the answer was stored
    finished_at       TEXT COLLATE "C",             -- when the leg became final
    created_at        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (inquiry_id, bank)
);
-- Due-claiming is per bank (a bank's backlog never hides another bank's due legs).
CREATE INDEX legs_due ON legs(bank, state, next_attempt_at);
CREATE INDEX legs_leases ON legs(bank, state, lease_expires_at);
CREATE INDEX legs_deadline ON legs(state, deadline);

CREATE TABLE answers (
    inquiry_id   TEXT NOT NULL,
    bank         TEXT NOT NULL,
    outcome      TEXT NOT NULL,                     -- the protocol Outcome as JSON
    sealed       BYTEA,                             -- the SealedCardList as JSON bytes (matched only)
    answered_at  TEXT COLLATE "C" NOT NULL,         -- the bank's answered_at
    received_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (inquiry_id, bank),
    FOREIGN KEY (inquiry_id, bank) REFERENCES legs(inquiry_id, bank)
);

CREATE TABLE late_answers (
    late_id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inquiry_id   TEXT NOT NULL,
    bank         TEXT NOT NULL,
    outcome      TEXT NOT NULL,                     -- the protocol Outcome as JSON
    had_sealed   BIGINT NOT NULL,                   -- 1 when a sealed list came (not kept)
    answered_at  TEXT COLLATE "C" NOT NULL,         -- the bank's answered_at
    received_at  TEXT COLLATE "C" NOT NULL,
    UNIQUE (inquiry_id, bank, answered_at)          -- a repeated callback is recorded once
);
CREATE INDEX late_answers_by_inquiry ON late_answers(inquiry_id);
