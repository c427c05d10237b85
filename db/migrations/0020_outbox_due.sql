-- 0020: the outbox's waiting messages indexed by when they are due.
--
-- 0013's `outbox_pending` listed them in row order, so the worker's other question, "when is
-- the next message that is not due yet due?", read every waiting row from the table to find
-- its time. A line of thousands (a flood of fake chats while the channel makes us wait) made
-- every wake-up of the worker cost as much as the line was long. Ordered by due time, both of
-- the worker's questions are one walk of the index from a known point: the due messages are
-- those up to now (the oldest due first, then in row order), the next one is the first after.

DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (channel, next_at, id) WHERE state = 'pending';
