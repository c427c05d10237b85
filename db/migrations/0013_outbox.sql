-- 0013: the outbox of text channels: every message sent to a person writing on Telegram
-- (later SMS, WhatsApp), stored before it is sent, then paced, retried and marked delivered
-- by the channel's worker (src/app/outbox.rs).
--
-- Applied by src/storage/migrations.rs in one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times). Only `cases` is referred to, so this migration does not
-- depend on the tables of the conversations themselves. What is written lives on the case;
-- a row keeps the text and the reply address only until the channel took the message or it
-- was given up on.

CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY,
    case_id        INTEGER NOT NULL REFERENCES cases (id),
    -- telegram, sms, whatsapp: each channel has its own worker.
    channel        TEXT    NOT NULL CHECK (channel IN ('telegram', 'sms', 'whatsapp')),
    -- The reply address (a chat id, a phone number), sealed by the use case that enqueued it:
    -- the same sealing as callback numbers. NULL once sent or failed: the address is not kept
    -- longer than needed.
    address_sealed TEXT,
    -- The pacing key: messages of one chat go out in order, spaced apart.
    chat_key       TEXT    NOT NULL,
    -- send a new message, edit or delete an earlier one (of_id), forget one the person sent
    -- (its id on the channel in body) when they ask for their conversation to be deleted, or
    -- send a channel's pre-approved template (its id in body: WhatsApp's after its window).
    action         TEXT    NOT NULL CHECK (action IN ('send', 'edit', 'delete', 'forget',
                                                      'template')),
    -- The text of a send or an edit, the channel's id of a message to forget; NULL once sent or
    -- failed (and for a delete).
    body           TEXT,
    -- Rows of buttons under the message, as JSON ([[{"text": …, "data": …}]]); NULL with the
    -- body.
    buttons        TEXT    CHECK (buttons IS NULL OR json_valid(buttons)),
    -- The earlier message an edit or a delete acts on; its provider_id is the channel's id.
    of_id          INTEGER REFERENCES outbox (id),
    -- pending -> sending -> sent, or back to pending (retry), or failed.
    state          TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    -- Attempts made (each claim counts one).
    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Not before then: the enqueue time, or the end of a backoff.
    next_at        TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    sent_at        TEXT,
    -- The channel's id of the message once sent (for a later edit or delete).
    provider_id    TEXT,
    -- The last failure as the channel worded it.
    error          TEXT,
    -- The idempotency key: an inbound update handled twice enqueues its answer once.
    dedupe_key     TEXT    NOT NULL UNIQUE,
    CHECK (action = 'delete' OR body IS NOT NULL OR state IN ('sent', 'failed')),
    CHECK (action IN ('send', 'forget', 'template') OR of_id IS NOT NULL)
) STRICT;

-- The worker's question, "the oldest waiting message of each chat that is due": the rows
-- still to send, per channel, in order. Sent and failed rows, the vast majority, are not in it.
CREATE INDEX outbox_open ON outbox (channel, chat_key, id) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_pending ON outbox (channel, id) WHERE state = 'pending';

-- A case's messages and their delivery, for the console.
CREATE INDEX outbox_by_case ON outbox (case_id, id);
