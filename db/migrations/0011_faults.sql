-- 0011: the readiness probe's row (src/storage/gauges.rs, `check_writable`).
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions).
-- `/readyz` must mean "the database takes writes now". Taking the write lock and rolling back
-- wrote nothing, so a read-only file or a full disk still read as ready. The probe commits a
-- real write, the time of the last probe, into this one row: a few bytes in the WAL, and the
-- same error as a webhook's record when the database cannot take it.
CREATE TABLE ready_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- When the last probe wrote; nothing reads it but a person curious about the last check.
    probed_at TEXT NOT NULL
);
