-- 0006: retention of personal data, legal holds, and the caller-hash key's fingerprint.
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions).
-- The purge (src/storage/retention.rs) shreds what could identify a caller after the periods
-- of `[retention]`, and keeps the structured fields (language, times, outcome, tags,
-- disposition) that statistics need.

-- 1 while a case is under legal hold: the purge leaves all of it alone. Set and released by
-- supervisors (PUT /api/cases/{number}/hold) or `hotline hold`, each audited.
ALTER TABLE cases ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0 CHECK (legal_hold IN (0, 1));

-- When the purge shredded each kind of personal data of the case; NULL while it is kept.
ALTER TABLE cases ADD COLUMN recording_shredded_at TEXT;
ALTER TABLE cases ADD COLUMN caller_shredded_at TEXT;

-- A shredded note keeps its author and time (who wrote on the case, and when, is part of the
-- case's history) but not its text, which becomes the placeholder below.
ALTER TABLE case_notes ADD COLUMN shredded_at TEXT;

-- A callback number is kept only while someone may still have to call: the purge shreds it
-- once its follow-up is closed, or when the recordings' period has passed. Stamped, so that a
-- journaled request replayed late cannot put it back.
ALTER TABLE follow_ups ADD COLUMN number_shredded_at TEXT;

-- Notes stay append-only for people: the only change the database accepts is the purge's
-- shredding, once, which replaces the text by the placeholder and stamps shredded_at.
DROP TRIGGER case_notes_are_append_only_update;
CREATE TRIGGER case_notes_are_append_only_update BEFORE UPDATE ON case_notes
WHEN NOT (OLD.shredded_at IS NULL AND NEW.shredded_at IS NOT NULL
          AND NEW.text = '[shredded]'
          AND NEW.id = OLD.id AND NEW.case_id = OLD.case_id
          AND NEW.author_id = OLD.author_id AND NEW.at = OLD.at)
BEGIN
    SELECT RAISE(ABORT, 'case notes are append-only: add a new note instead');
END;

-- A fingerprint of the caller-hash key chain the stored hashes were made under (one row).
-- The server refuses to start with another chain: every repeat-caller link and every
-- blocklist entry would silently stop matching. Written at first start and by
-- `hotline keys rotate-caller-hash`; it is an HMAC of a fixed label, so it reveals nothing.
CREATE TABLE caller_hash_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT    NOT NULL CHECK (length(fingerprint) = 64),
    -- How many keys the chain has (1 until the first rotation).
    keys        INTEGER NOT NULL CHECK (keys >= 1),
    set_at      TEXT    NOT NULL
) STRICT;
