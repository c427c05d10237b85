-- 0004: case work: operators' notes, dispositions and closing, and the blocklist.
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times, no phone number anywhere). Who read or changed what is
-- not kept here but in the audit log (0002): a reopening, an unblocking, an export.

-- What the operators concluded about a case. Set through the API, never derived from the
-- events, so the call's own columns stay a pure function of what the provider told us.
-- The disposition is one of `[cases] dispositions` in the configuration; not a CHECK, since
-- the list is configurable and an old case keeps a value the list may no longer have.
ALTER TABLE cases ADD COLUMN disposition TEXT;
-- When and by whom the case was closed; both NULL while it is open. A reopening clears them
-- (the audit log keeps the history).
ALTER TABLE cases ADD COLUMN closed_at TEXT;
ALTER TABLE cases ADD COLUMN closed_by INTEGER REFERENCES users (id);

-- Search filters (GET /api/cases) list the newest cases first within one value, so each
-- index ends with the start time.
CREATE INDEX cases_by_language ON cases (language, started_at);
CREATE INDEX cases_by_outcome ON cases (outcome, started_at);
CREATE INDEX cases_by_disposition ON cases (disposition, started_at)
    WHERE disposition IS NOT NULL;
-- "Cases tagged intent=surrender": case_tags' primary key starts with the case, so a lookup
-- by key and value needs its own index.
CREATE INDEX case_tags_by_value ON case_tags (key, value);

-- Operators' notes on a case: authored, timestamped, never edited or removed. A correction is
-- a new note. The triggers below make the database itself refuse an edit, whatever program
-- opens it.
CREATE TABLE case_notes (
    -- Also the order of the notes of a case.
    id        INTEGER PRIMARY KEY,
    case_id   INTEGER NOT NULL REFERENCES cases (id),
    author_id INTEGER NOT NULL REFERENCES users (id),
    at        TEXT    NOT NULL,
    -- 1 to 4000 characters; the API also refuses control characters other than newline.
    text      TEXT    NOT NULL CHECK (length(text) BETWEEN 1 AND 4000)
) STRICT;

-- A case's notes, in order.
CREATE INDEX case_notes_by_case ON case_notes (case_id, id);

CREATE TRIGGER case_notes_are_append_only_update BEFORE UPDATE ON case_notes
BEGIN
    SELECT RAISE(ABORT, 'case notes are append-only: add a new note instead');
END;

CREATE TRIGGER case_notes_are_append_only_delete BEFORE DELETE ON case_notes
BEGIN
    SELECT RAISE(ABORT, 'case notes are append-only: add a new note instead');
END;

-- Callers whose calls are refused or flagged (`[blocklist] answer`). A caller is known only by
-- the keyed hash of their number; supervisors block "the caller of case N" and never see it.
CREATE TABLE blocklist (
    -- The entry's number in the API (DELETE /api/blocklist/{id}): the hash is never shown.
    id          INTEGER PRIMARY KEY,
    -- One entry per caller; UNIQUE is also the index /voice/incoming looks up on every call.
    caller_hash TEXT    NOT NULL UNIQUE,
    -- The case the block was made from, so the list can say which caller it is.
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    -- Why, in the supervisor's words (1 to 500 characters).
    reason      TEXT    NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_by  INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL,
    -- From then on the entry is ignored; NULL: until unblocked.
    expires_at  TEXT
) STRICT;
