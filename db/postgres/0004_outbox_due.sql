-- SQLite's 0020: the outbox's waiting messages indexed by when they are due.

DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (channel, next_at, id) WHERE state = 'pending';
