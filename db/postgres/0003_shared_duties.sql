-- SQLite's 0019: the duties' leases and the data keys' floors, the same columns and checks.

CREATE TABLE leases (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 64),
    holder     TEXT COLLATE "C" NOT NULL CHECK (char_length(holder) BETWEEN 1 AND 128),
    taken_at   TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE data_key_floors (
    class       TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (class IN ('r', 'n', 'h')),
    first_month TEXT COLLATE "C" NOT NULL CHECK (char_length(first_month) = 6)
);
