-- chaka hub schema, part 4: the ledger's three working indexes (due legs per bank, expired
-- leases per bank, deadlines) hold only the legs still open, each index only the states its
-- queries ask for. A final leg (answered, no answer: nearly every leg after a day) is in none
-- of them, so an answer's update writes the primary key's entry alone instead of four, claims
-- and the deadline sweep read indexes as large as the work in flight rather than the history,
-- and the indexes no longer grow with the inquiries kept. The key columns no longer repeat
-- the state. The same names as in part 2; the queries name the states exactly as below (SQLite
-- uses a partial index only for a query that repeats its WHERE terms).

DROP INDEX legs_due;
DROP INDEX legs_leases;
DROP INDEX legs_deadline;
CREATE INDEX legs_due ON legs(bank, next_attempt_at) WHERE state IN ('pending', 'awaiting_callback');
CREATE INDEX legs_leases ON legs(bank, lease_expires_at) WHERE state = 'sending';
CREATE INDEX legs_deadline ON legs(deadline) WHERE state IN ('pending', 'sending', 'awaiting_callback');
