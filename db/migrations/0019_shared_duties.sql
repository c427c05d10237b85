-- 0019: what servers sharing one database agree on. Two `hotline serve` on one PostgreSQL
-- database (a line on two machines) each answer any call, but some work must be done by one
-- of them at a time: two scheduled purges, two workers sending one outbox, two watchers
-- publishing their own folders would do it twice or fight. On SQLite there is one server per
-- file; the same rows are kept, so both engines run the same code.

-- Who is on duty: one row per duty, held by the server named `holder` (an id it made at
-- start) until `expires_at`, which it moves forward every few seconds while it works. Another
-- server takes the row only once that time has passed, or at once when the holder gives it
-- up at shutdown. Times are RFC 3339 UTC with nine fractional digits, so they compare as text.
CREATE TABLE leases (
    name       TEXT NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    holder     TEXT NOT NULL CHECK (length(holder) BETWEEN 1 AND 128),
    taken_at   TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

-- The first month (yyyymm) whose data key is still kept, per class of sealed text (the class's letter:
-- r, n, h), as the last purge left it. Each server keeps its own copy of the keys, in its own
-- data folder and never in the database (a copy of the database must not carry them); a purge
-- destroys the months' keys of the server that ran it, and every other server, reading this,
-- destroys them in its copy too. It says nothing about what the cases held.
CREATE TABLE data_key_floors (
    class       TEXT NOT NULL PRIMARY KEY CHECK (class IN ('r', 'n', 'h')),
    first_month TEXT NOT NULL CHECK (length(first_month) = 6)
) STRICT;
