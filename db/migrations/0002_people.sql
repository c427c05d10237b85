-- 0002: the people who work the hotline, their API tokens, and the audit log.
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times). Secrets are never stored, only their hashes.

-- Operators and supervisors. Never deleted, only disabled: the audit log and cases point at
-- them, and an id must keep meaning the same person.
CREATE TABLE users (
    -- AUTOINCREMENT, so an id is never handed out twice, even if a row were deleted by hand:
    -- the id is the operator ID typed on a phone's keypad and recorded in the audit log.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Login name, shown on screens and in the audit log: 1–64 ASCII letters, digits, '.',
    -- '_', '-' (checked in src/people; repeated here so a hand-edit cannot break the rule).
    name          TEXT    NOT NULL UNIQUE
                  CHECK (length(name) BETWEEN 1 AND 64 AND name NOT GLOB '*[^A-Za-z0-9._-]*'),
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'supervisor')),
    -- The languages they take calls in, comma-separated in their order of preference
    -- ("ru,uk"), each a LanguageTag (validated in src/people on the way in and out). A list
    -- in one column: it is read whole with the person and never queried by element.
    languages     TEXT    NOT NULL CHECK (languages <> ''),
    -- Argon2id PHC strings. NULL: no password (console login impossible), no PIN (dial-in
    -- impossible).
    password_hash TEXT,
    pin_hash      TEXT,
    -- When they were disabled; NULL while they may work.
    disabled_at   TEXT,
    created_at    TEXT    NOT NULL
) STRICT;

-- Ids start at 101, so an operator ID typed on a keypad always has 3 digits or more: a
-- one- or two-digit ID would be easy to guess, and easy to mistype into another operator's
-- (sqlite_sequence holds the last id AUTOINCREMENT handed out; the first row gets 100 + 1).
INSERT INTO sqlite_sequence (name, seq) VALUES ('users', 100);

-- Bearer tokens for the API. A person may hold several (one per device); revoking keeps the
-- row, so the audit log's story stays readable.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    -- Hex SHA-256 of the token. Tokens are 256 random bits, so a fast hash cannot be reversed
    -- or brute-forced, and a deterministic one can be looked up by index on every request
    -- (a slow salted hash like Argon2 would need a scan and cost a CPU-second per request).
    token_hash   TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at   TEXT    NOT NULL,
    -- When it was revoked; a revoked token is refused.
    revoked_at   TEXT,
    -- When it was last used, to the minute (updated at most once a minute, not per request).
    last_used_at TEXT
) STRICT;

-- "Revoke all tokens of this person."
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- Who did what, to which case, when: every read of a case and every change. Append-only:
-- the triggers below refuse to change or remove a line, even for this application.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL,
    -- The person; NULL for the command line (`hotline users …`), whose detail says "cli".
    actor_id    INTEGER REFERENCES users (id),
    -- What was done: a short code like "user.add", "case.read", "note.add".
    action      TEXT    NOT NULL CHECK (action <> ''),
    -- The case concerned, printed 2026-000042, when there is one.
    case_number TEXT,
    -- What else a reader needs ("name=anna role=operator"); never a phone number or secret.
    detail      TEXT    NOT NULL
) STRICT;

-- The audit API filters by case, by actor and by action, newest first.
CREATE INDEX audit_by_case ON audit_log (case_number, id) WHERE case_number IS NOT NULL;
CREATE INDEX audit_by_actor ON audit_log (actor_id, id);
CREATE INDEX audit_by_action ON audit_log (action, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
