-- A bank's card store: holders keyed by ID number, their cards, and the answers the node has
-- already given (idempotency by inquiry id). Written by `chaka gen`, served by `chaka bank`.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);

CREATE TABLE holders (
    holder_id      INTEGER PRIMARY KEY,
    id_number      TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    id_doc_expires TEXT NOT NULL -- YYYY-MM-DD; 9999-12-31 = long-term
);

CREATE TABLE cards (
    pan            TEXT PRIMARY KEY,
    holder_id      INTEGER NOT NULL REFERENCES holders (holder_id),
    kind           TEXT NOT NULL CHECK (kind IN ('debit', 'credit', 'semi_credit', 'prepaid')),
    status         TEXT NOT NULL
                   CHECK (status IN ('normal', 'dormant', 'frozen', 'reported_lost', 'closed')),
    reserved_phone TEXT,
    cnp_enabled    INTEGER NOT NULL CHECK (cnp_enabled IN (0, 1)),
    opened         TEXT NOT NULL, -- YYYY-MM
    last_active    TEXT,          -- YYYY-MM
    product        TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX cards_by_holder ON cards (holder_id);

CREATE TABLE answers (
    inquiry_id TEXT PRIMARY KEY,
    body       BLOB NOT NULL,
    created_at TEXT NOT NULL
);
