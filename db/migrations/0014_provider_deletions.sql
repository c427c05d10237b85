-- 0014: what must still be deleted at the telephony provider: the recordings whose addresses
-- retention shredded. Queued in the purge's own transaction, so a provider that is down when
-- the purge runs cannot make the hotline forget a recording it promised to delete; deleted
-- and retried by the provider's upkeep (src/app/provider.rs). Only a purge with the
-- provider's account configured queues anything.
--
-- Applied by src/storage/migrations.rs in one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times). A row holds the provider's id of what to delete and
-- nothing else: an id opens nothing without the account's credentials, unlike the address
-- it was read from.

CREATE TABLE provider_deletions (
    id              INTEGER PRIMARY KEY,
    -- What kind of resource: only recordings today.
    kind            TEXT    NOT NULL CHECK (kind IN ('recording')),
    -- Its id at the provider (RE and 32 hex digits for a recording).
    sid             TEXT    NOT NULL CHECK (length(sid) = 34),
    queued_at       TEXT    NOT NULL,
    -- Requests tried so far, and when the next may be: a failure waits longer each time.
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT    NOT NULL,
    UNIQUE (kind, sid)
) STRICT;

CREATE INDEX provider_deletions_due ON provider_deletions (next_attempt_at);
