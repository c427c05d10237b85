-- 0008: the web console's sessions, and the language of each person's console.
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times). Secrets are never stored, only their hashes.

-- The language of the console's interface text for this person (`en`, `uk`, …); NULL: the
-- default. Not one of their call languages: an operator taking Russian calls may read the
-- console in Ukrainian.
ALTER TABLE users ADD COLUMN console_language TEXT
    CHECK (console_language IS NULL OR console_language GLOB '[a-z][a-z]');

-- One row per logged-in browser. The cookie holds a random token; only its SHA-256 is here,
-- so a copy of the database does not let anyone take over a session. Logging out, an idle
-- timeout or the end of the shift removes the row.
CREATE TABLE console_sessions (
    token_hash   TEXT    PRIMARY KEY CHECK (length(token_hash) = 64),
    user_id      INTEGER NOT NULL REFERENCES users (id),
    -- The token every form of this session carries (synchronizer token against cross-site
    -- request forgery). Random, not derived from the cookie.
    csrf         TEXT    NOT NULL CHECK (length(csrf) = 64),
    created_at   TEXT    NOT NULL,
    -- Updated at most once a minute, not per request.
    last_seen_at TEXT    NOT NULL
) STRICT;

-- "End every session of this person" (disabled, password reset).
CREATE INDEX console_sessions_by_user ON console_sessions (user_id);
