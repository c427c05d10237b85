-- 0012: text channels: conversations, their messages, and the updates already handled.
--
-- Applied by src/storage/migrations.rs inside one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times). A conversation is a case like a call; its records keep
-- the case's events and outcome exactly as a call's do. What a call carries in its URLs (its
-- place in the script) a chat cannot, so the conversation row keeps it.

-- Where each case came from. Every case before this migration was a phone call.
ALTER TABLE cases ADD COLUMN channel TEXT NOT NULL DEFAULT 'voice'
    CHECK (channel IN ('voice', 'telegram', 'sms', 'whatsapp'));

-- One row per conversation (so per text case).
CREATE TABLE conversations (
    id             INTEGER PRIMARY KEY,
    case_id        INTEGER NOT NULL UNIQUE REFERENCES cases (id),
    channel        TEXT    NOT NULL CHECK (channel IN ('telegram', 'sms', 'whatsapp')),
    -- The keyed hash of the person's address on the channel (never the address): finds their
    -- open conversation. NULL once it closes: the case's caller_hash recognises a repeat
    -- contact from then on, and is shredded by retention like a caller's.
    chat_hash      TEXT,
    -- The reply address, sealed like a callback number (nonce || ciphertext || tag, base64url,
    -- the case's call id as associated data). Shredded (NULL) when the conversation closes.
    address_sealed TEXT,
    -- The position in the script (src/domain/conversation.rs, Position).
    state          TEXT    NOT NULL CHECK (state IN
                       ('language', 'menu', 'ask', 'voicemail', 'operator', 'closed')),
    language       TEXT,
    node           TEXT,
    attempt        INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    -- The next step of the case's records: one step per message handled. Also the version a
    -- write checks, so two updates of one chat handled at once cannot both move it.
    step           INTEGER NOT NULL DEFAULT 0 CHECK (step >= 0),
    -- Messages written freely at menus; past `[chats] free_text_handoff` an operator takes over.
    free_texts     INTEGER NOT NULL DEFAULT 0 CHECK (free_texts >= 0),
    -- The operators' language it waits for once handed off: its own, or another one by
    -- `[queues] fallbacks` (an interpreter needed). Operators of it may see and take it.
    queue_language TEXT,
    -- The operator who took it (NULL while it waits, or before it reached the queue).
    operator_id    INTEGER REFERENCES users (id),
    started_at     TEXT    NOT NULL,
    last_in_at     TEXT    NOT NULL,
    reminded_at    TEXT,
    queued_at      TEXT,
    taken_at       TEXT,
    closed_at      TEXT,
    -- Why it closed: finished (the script ended), inactive, operator.
    closed_reason  TEXT,
    -- While it waits: the outbox row of the message that tells the person their place in the
    -- queue (edited in place as it changes, where the channel allows), and the place shown.
    position_outbox_id INTEGER,
    position_shown     INTEGER
) STRICT;

-- One open conversation per person and channel: the lookup on every message, and the rule.
CREATE UNIQUE INDEX conversations_open_by_chat ON conversations (channel, chat_hash)
    WHERE state <> 'closed';
-- The chats waiting for an operator, oldest first; and each operator's chats.
CREATE INDEX conversations_queued ON conversations (state, queued_at) WHERE state = 'operator';
CREATE INDEX conversations_by_operator ON conversations (operator_id) WHERE operator_id IS NOT NULL;

-- Every message of a conversation, both ways: sensitive text, kept only here, on its case,
-- and shredded with it by retention (secure_delete zeroes the pages).
CREATE TABLE chat_messages (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases (id),
    at         TEXT    NOT NULL,
    -- 'person', 'bot' (the script), or 'operator' with author_id.
    author     TEXT    NOT NULL CHECK (author IN ('person', 'bot', 'operator')),
    author_id  INTEGER REFERENCES users (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('text', 'answer', 'voicemail', 'prompt', 'reply')),
    node       TEXT,
    -- The <ask> variable an answer answers.
    var        TEXT,
    body       TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    -- The outbox row that carries a message to the person (NULL for what they wrote).
    outbox_id  INTEGER,
    -- When retention replaced the body with a mark (like a note's text).
    shredded_at TEXT
) STRICT;

CREATE INDEX chat_messages_by_case ON chat_messages (case_id, id);

-- Updates already handled, by the channel's own id (Telegram's update_id): a redelivered
-- update changes nothing. Pruned after a few days by the retention purge; the channels stop
-- redelivering long before.
CREATE TABLE text_updates (
    channel    TEXT NOT NULL,
    update_key TEXT NOT NULL,
    at         TEXT NOT NULL,
    -- The case it moved, and the channel's id of the person's message it carried (none for a
    -- button pressed): what `/delete` removes from their phone, which the channel allows for
    -- two days at most.
    case_id    INTEGER REFERENCES cases (id),
    message_id TEXT,
    PRIMARY KEY (channel, update_key)
) STRICT, WITHOUT ROWID;
