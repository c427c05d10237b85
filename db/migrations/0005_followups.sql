-- 0005: the follow-up list: voicemails, callback requests and missed calls, and the attempts
-- operators make to reach those callers.
--
-- Applied by src/storage/migrations.rs in one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times). A callback number is the one phone number the hotline
-- keeps, and only sealed: encrypted and authenticated (ChaCha20-Poly1305, a random nonce per
-- value, the call as associated data) under a key that lives in the environment, never here.

-- One row per case and kind. Voicemails and missed calls are derived from the case's events
-- whenever they change (src/storage/followups.rs); a callback request is its own record.
CREATE TABLE follow_ups (
    id             INTEGER PRIMARY KEY,
    case_id        INTEGER NOT NULL REFERENCES cases (id),
    kind           TEXT    NOT NULL CHECK (kind IN ('voicemail', 'callback', 'missed')),
    created_at     TEXT    NOT NULL,
    -- When the caller first joined an operators' queue, if they did: a callback keeps the
    -- caller's place, so the list is ordered by it (then by created_at).
    joined_at      TEXT,
    -- The voicemail's recording and length (kind = 'voicemail').
    recording_url  TEXT,
    recording_secs INTEGER CHECK (recording_secs >= 0),
    -- The callback number, sealed: base64url of nonce || ciphertext || tag (kind = 'callback').
    number_sealed  TEXT,
    -- The number masked for every screen: its last two digits at most (`…67`).
    number_hint    TEXT,
    -- open -> taken (by one operator, who alone may reveal the number) -> closed.
    state          TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'taken', 'closed')),
    taken_by       INTEGER REFERENCES users (id),
    taken_at       TEXT,
    -- Attempts made so far (the rows of follow_up_attempts).
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    closed_at      TEXT,
    -- reached, wrong-number, attempts (the limit was reached).
    closed_reason  TEXT,
    UNIQUE (case_id, kind)
) STRICT;

-- The list shows what is not closed, oldest place in line first.
CREATE INDEX follow_ups_open ON follow_ups (state, joined_at, created_at);

-- Each try to reach a caller: who, when, and how it went. Never edited.
CREATE TABLE follow_up_attempts (
    id           INTEGER PRIMARY KEY,
    follow_up_id INTEGER NOT NULL REFERENCES follow_ups (id),
    operator_id  INTEGER NOT NULL REFERENCES users (id),
    at           TEXT    NOT NULL,
    result       TEXT    NOT NULL CHECK (result IN ('tried', 'reached', 'no-answer', 'wrong-number'))
) STRICT;

CREATE INDEX follow_up_attempts_by_follow_up ON follow_up_attempts (follow_up_id, id);

-- A key pressed in the wait document takes the caller out of the queue (<Leave/>); the
-- Enqueue action that follows reads here which voicemail or callback node they chose.
ALTER TABLE queue_entries ADD COLUMN left_for TEXT;
