-- 0010: PIN guessing on the operator line is counted and locked out (src/storage/pin_lockout.rs,
-- the policy in src/people/lockout.rs).
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times, so text order is time order). No PIN is ever stored here,
-- and no phone number: a calling number is its caller hash (as in `cases`), or the word
-- 'withheld' for every caller whose number is hidden.

-- One row per PIN tried on the operator line, right or wrong, written before the PIN is
-- checked (so parallel calls cannot all slip in before the count sees them); a right PIN
-- removes its row again. Kept a day, then deleted by the next attempt.
CREATE TABLE pin_failures (
    id          INTEGER PRIMARY KEY,
    -- The operator ID as typed: it need not be a person's, so that a lock on an ID that does
    -- not exist behaves exactly like one on an ID that does. No foreign key, on purpose.
    operator_id INTEGER NOT NULL,
    -- The calling number's caller hash, or 'withheld'.
    caller_hash TEXT    NOT NULL CHECK (caller_hash <> ''),
    at          TEXT    NOT NULL
) STRICT;

-- The failures of one ID, and of one number, in a window of time; the daily clean-up.
CREATE INDEX pin_failures_by_operator ON pin_failures (operator_id, at);
CREATE INDEX pin_failures_by_caller ON pin_failures (caller_hash, at);
CREATE INDEX pin_failures_by_at ON pin_failures (at);

-- The lock state of one operator ID or one calling number: exactly one of the two keys is set.
-- A row without a lock still says from when failures count (after a lock ended, a sign-in,
-- or a supervisor's unlock). Deleted a day after its last lock or clearing, which also resets
-- the growing lock length.
CREATE TABLE pin_lockouts (
    id           INTEGER PRIMARY KEY,
    operator_id  INTEGER UNIQUE,
    caller_hash  TEXT    UNIQUE CHECK (caller_hash <> ''),
    -- Locks in a row: the length of the next one doubles with each (see the policy).
    locks        INTEGER NOT NULL DEFAULT 0 CHECK (locks >= 0),
    locked_at    TEXT,
    -- The lock holds while this is in the future.
    locked_until TEXT,
    -- The last sign-in or unlock: failures before it no longer count towards a lock.
    cleared_at   TEXT,
    -- The ID's last sign-in: the wrong PINs since are named in the next sign-in's audit line.
    signed_in_at TEXT,
    CHECK ((operator_id IS NULL) <> (caller_hash IS NULL))
) STRICT;

-- The locks of the moment, for the wall board and /metrics.
CREATE INDEX pin_lockouts_by_until ON pin_lockouts (locked_until) WHERE locked_until IS NOT NULL;
