-- 0007: every published version of the IVR scripts, the drafts being prepared, and the test
-- callers who hear the drafts on the real line.
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times).

-- One row per published version of one file (`languages.xml`, `ru.xml`, …). Append-only: a
-- rollback publishes an old text again as a new row, so the history tells what callers heard
-- and when. The live scripts are the newest row of each file; the largest id names that set.
CREATE TABLE script_versions (
    -- AUTOINCREMENT: an id is never reused, since it travels in calls' URLs.
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    file       TEXT    NOT NULL CHECK (file = 'languages.xml' OR file GLOB '[a-z][a-z].xml'
                                       OR file GLOB '[a-z][a-z][a-z].xml'),
    -- A person's name, `file` for an edit of the folder, `cli` for the command line.
    author     TEXT    NOT NULL CHECK (length(author) BETWEEN 1 AND 64),
    comment    TEXT    NOT NULL CHECK (length(comment) <= 500),
    created_at TEXT    NOT NULL,
    -- The whole file. The loader refuses files over 1 MiB; repeated here.
    text       TEXT    NOT NULL CHECK (length(CAST(text AS BLOB)) <= 1048576)
) STRICT;

CREATE INDEX script_versions_by_file ON script_versions (file, id);

-- What a supervisor is preparing: at most one draft per file, replaced by each save, removed
-- when published or discarded. A draft may be invalid; publishing checks it.
CREATE TABLE script_drafts (
    file       TEXT    PRIMARY KEY CHECK (file = 'languages.xml' OR file GLOB '[a-z][a-z].xml'
                                          OR file GLOB '[a-z][a-z][a-z].xml'),
    author     TEXT    NOT NULL CHECK (length(author) BETWEEN 1 AND 64),
    updated_at TEXT    NOT NULL,
    text       TEXT    NOT NULL CHECK (length(CAST(text AS BLOB)) <= 1048576)
) STRICT;

-- Numbers that hear the drafts when they call the line, kept as the same keyed hash as a
-- case's caller: the number itself is never stored.
CREATE TABLE script_testers (
    caller_hash TEXT   PRIMARY KEY,
    label       TEXT   NOT NULL CHECK (length(label) <= 64),
    added_at    TEXT   NOT NULL
) STRICT;
