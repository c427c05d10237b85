-- 0001: cases, their events and their tags.
--
-- Applied by src/storage/migrations.rs inside one transaction, which then sets
-- PRAGMA user_version = 1. Do not add BEGIN/COMMIT or PRAGMAs here, and never edit this
-- file once released: add 0002_*.sql instead (see db/README.md).
--
-- Conventions:
-- * Tables are STRICT, so a wrong type is an error instead of a silently stored string.
-- * Times are RFC 3339 UTC text with nanoseconds and a `Z` ("2026-03-01T12:00:00.000000000Z"):
--   fixed width, so text order is time order and ranges can use indexes.
-- * No phone number is ever stored. Callers are known only by a keyed hash.

-- One row per call: what operators look up. Everything the case list and the fallback
-- webhook need is a column here, so those reads never have to walk the events.
CREATE TABLE cases (
    -- Internal key that events and tags point at; never shown.
    id              INTEGER PRIMARY KEY,
    -- The case number shown to people, printed 2026-000042: the UTC year the case was opened
    -- and its sequence within that year (1 for the first), allocated in the transaction that
    -- inserts the row.
    number_year     INTEGER NOT NULL,
    number_seq      INTEGER NOT NULL CHECK (number_seq >= 1),
    -- The provider's call id: the idempotency key that makes a retried webhook open no
    -- second case. UNIQUE also gives the index for lookups by call.
    call_sid        TEXT    NOT NULL UNIQUE,
    -- The language the caller chose last (derived from the events); read by the fallback
    -- webhook to apologise in the caller's language.
    language        TEXT,
    -- HMAC of the caller's number, to recognise a repeat caller without keeping the number.
    caller_hash     TEXT,
    -- The caller's country as the provider reports it (two letters).
    country         TEXT,
    -- When the call arrived (the earliest record of it we have).
    started_at      TEXT    NOT NULL,
    -- When the final status arrived; NULL while the call goes on.
    ended_at        TEXT,
    -- The provider's status we keep: the highest SequenceNumber wins, and a final status is
    -- never replaced by a non-final one (callbacks arrive out of order).
    status          TEXT,
    status_sequence INTEGER,
    -- When the kept status arrived: the tie-breaker when the provider sends no sequence.
    status_at       TEXT,
    -- The call's length, from the final status.
    duration_secs   INTEGER CHECK (duration_secs >= 0),
    -- How the call ended up (recomputed from the events and the final status after every
    -- write, so it does not depend on the order webhooks arrive in). Kept in columns, not
    -- JSON, so reports can group and filter on them cheaply.
    outcome         TEXT    NOT NULL DEFAULT 'in-progress' CHECK (outcome IN (
                        'in-progress', 'finished', 'abandoned', 'handed-off',
                        'abandoned-in-queue', 'voicemail')),
    -- The node of a `finished` or `abandoned` outcome.
    outcome_node    TEXT,
    -- The queue of a `handed-off` or `abandoned-in-queue` outcome.
    outcome_queue   TEXT,
    -- Where the provider keeps the voicemail, if one was left.
    recording_url   TEXT,
    -- The last node the caller heard: where an abandoned call was dropped.
    last_node       TEXT,
    -- Case numbers are unique; this index also makes "next number of the year" a lookup.
    UNIQUE (number_year, number_seq)
) STRICT;

-- The case list shows the newest cases first.
CREATE INDEX cases_by_started_at ON cases (started_at);

-- "Has this caller called before?" Most calls have a hash, but anonymous ones do not, and
-- they need no index entry.
CREATE INDEX cases_by_caller_hash ON cases (caller_hash) WHERE caller_hash IS NOT NULL;

-- Fields the caller's choices set on the case (intent=surrender): one value per key, the last
-- set wins, listed in the order first set. Derived from the events, kept as rows so cases
-- can be found by tag.
CREATE TABLE case_tags (
    case_id  INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    key      TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    -- Order in which the key was first set within the call.
    position INTEGER NOT NULL,
    PRIMARY KEY (case_id, key)
) STRICT;

-- Everything that happened in a call, in order. A webhook (one step of the call) writes its
-- events once: the primary key makes a retried webhook a no-op.
CREATE TABLE case_events (
    case_id INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    -- The step (webhook) of the call, and the event's place within it.
    step    INTEGER NOT NULL CHECK (step >= 0),
    idx     INTEGER NOT NULL CHECK (idx >= 0),
    -- When the step's webhook arrived.
    at      TEXT    NOT NULL,
    -- The event's kind ("entered", "pressed", ...), as in its JSON.
    kind    TEXT    NOT NULL,
    -- The node the event happened at, when it has one, and the keys pressed: copied out of
    -- the JSON so path analysis ("where do callers give up?") needs no JSON parsing.
    node    TEXT,
    digits  TEXT,
    -- The whole event as serde writes it: the source of truth the columns are derived from.
    detail  TEXT    NOT NULL CHECK (json_valid(detail)),
    -- The idempotency key; also serves reading a case's events in order.
    PRIMARY KEY (case_id, step, idx)
) STRICT;
