-- 0009: indexes for the supervisors' wall board (src/storage/dashboard.rs).
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions).
-- Each index was added because EXPLAIN QUERY PLAN showed a scan of a million rows without it
-- (`cargo bench --bench wallboard` prints the plans and the times).

-- Calls per hour and per day and language, for the charts: with the language in the index the
-- counts are read from the index alone; with `cases_by_started_at` each of the month's cases
-- was a lookup in the table (four times slower on a million cases).
CREATE INDEX cases_by_started_at_language ON cases (started_at, language);

-- How today's queue went: the entries that joined since midnight. Without it the whole table
-- of queue entries was scanned every second the board is open.
CREATE INDEX queue_entries_by_joined_at ON queue_entries (joined_at);

-- Who waits now, and since when: `queue_entries_waiting` holds only `waiting`, so counting the
-- callers being connected as well scanned every entry ever made.
CREATE INDEX queue_entries_open ON queue_entries (language, joined_at)
    WHERE state IN ('waiting', 'connecting');
