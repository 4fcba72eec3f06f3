-- The sandbox identity registry: who exists, under which name and mobile number. Written by
-- `chaka gen`, read by the hub's sandbox identity check.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);

CREATE TABLE citizens (
    id_number      TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    phone          TEXT NOT NULL,
    id_doc_expires TEXT NOT NULL -- YYYY-MM-DD; 9999-12-31 = long-term
) WITHOUT ROWID;
