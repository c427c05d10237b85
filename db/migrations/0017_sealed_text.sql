-- 0017: sensitive text sealed under data keys (src/domain/data_keys.rs).
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions).
-- Notes and chat messages are now stored sealed (`dk1.n.yyyymm.…`, or `dk1.h.…` while their
-- case is under legal hold): a sealed value is longer than its text, so their length checks
-- allow it, and a note's text may be replaced by its sealing (text written before this
-- release, sealed at the first start after it) or its sealing again (a hold placed or
-- released) besides its shredding. A sealed form is known by its prefix compared with `=`
-- (LIKE would also take `DK1.`, and ignores case in SQLite only). SQLite cannot change a check in place: both tables are rebuilt, rows, ids and
-- indexes unchanged.

CREATE TABLE case_notes_sealed (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    author_id   INTEGER NOT NULL REFERENCES users (id),
    at          TEXT    NOT NULL,
    -- Sealed, or (until the first start of this release seals it) 1 to 4000 characters.
    text        TEXT    NOT NULL CHECK (length(text) BETWEEN 1 AND 4000
                                        OR (substr(text, 1, 4) = 'dk1.' AND length(text) <= 32768)),
    shredded_at TEXT
) STRICT;
INSERT INTO case_notes_sealed (id, case_id, author_id, at, text, shredded_at)
    SELECT id, case_id, author_id, at, text, shredded_at FROM case_notes;
DROP TABLE case_notes;
ALTER TABLE case_notes_sealed RENAME TO case_notes;
CREATE INDEX case_notes_by_case ON case_notes (case_id, id);

-- Append-only for people: the database accepts two changes. The purge's shredding replaces
-- the text by the placeholder and stamps shredded_at, once; a sealing replaces it by a sealed
-- form (of a text written before this release, or again for a legal hold). The database
-- cannot look inside a sealed value; storage only ever seals the same text again.
CREATE TRIGGER case_notes_are_append_only_update BEFORE UPDATE ON case_notes
WHEN NOT (NEW.id = OLD.id AND NEW.case_id = OLD.case_id
          AND NEW.author_id = OLD.author_id AND NEW.at = OLD.at
          AND ((OLD.shredded_at IS NULL AND NEW.shredded_at IS NOT NULL
                AND NEW.text = '[shredded]')
            OR (OLD.shredded_at IS NULL AND NEW.shredded_at IS NULL
                AND substr(NEW.text, 1, 4) = 'dk1.')))
BEGIN
    SELECT RAISE(ABORT, 'case notes are append-only: add a new note instead');
END;

CREATE TRIGGER case_notes_are_append_only_delete BEFORE DELETE ON case_notes
BEGIN
    SELECT RAISE(ABORT, 'case notes are append-only: add a new note instead');
END;

CREATE TABLE chat_messages_sealed (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    at          TEXT    NOT NULL,
    author      TEXT    NOT NULL CHECK (author IN ('person', 'bot', 'operator')),
    author_id   INTEGER REFERENCES users (id),
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'answer', 'voicemail', 'prompt', 'reply')),
    node        TEXT,
    var         TEXT,
    -- Sealed, or (until the first start of this release seals it) 1 to 4096 characters.
    body        TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 4096
                                        OR (substr(body, 1, 4) = 'dk1.' AND length(body) <= 32768)),
    outbox_id   INTEGER,
    shredded_at TEXT
) STRICT;
INSERT INTO chat_messages_sealed
        (id, case_id, at, author, author_id, kind, node, var, body, outbox_id, shredded_at)
    SELECT id, case_id, at, author, author_id, kind, node, var, body, outbox_id, shredded_at
    FROM chat_messages;
DROP TABLE chat_messages;
ALTER TABLE chat_messages_sealed RENAME TO chat_messages;
CREATE INDEX chat_messages_by_case ON chat_messages (case_id, id);

-- Whether the text written before this release has been sealed (one row, once done).
CREATE TABLE legacy_text_sealed (
    id INTEGER PRIMARY KEY CHECK (id = 1)
) STRICT;
