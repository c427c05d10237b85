-- 0003: operators' presence and the callers waiting for them.
--
-- Applied by src/storage/migrations.rs in one transaction (see db/README.md). The server, not
-- the provider's FIFO, decides who an operator takes next: every waiting caller has a row in
-- queue_entries and their own provider queue, and src/queue/ explains the policy.

-- Where each person stands right now. One row per person, created the first time their state
-- changes (no row reads as offline). Set by `PUT /api/me/state` (available, break, offline)
-- and by the call flow (on-call when they take a caller, wrap-up when the call ends).
CREATE TABLE presence (
    user_id  INTEGER PRIMARY KEY REFERENCES users (id),
    state    TEXT    NOT NULL CHECK (state IN ('offline', 'available', 'on-call', 'wrap-up', 'break')),
    -- When the state was entered.
    since    TEXT    NOT NULL,
    -- The end of a wrap-up: past it, the person reads as available (no timer needed).
    until    TEXT,
    -- The operator's own call on the operator line while they are on it: later requests of
    -- that call must come from the same call, and its end takes them offline.
    call_sid TEXT
) STRICT;

-- One row per caller put in a queue at a handoff. The row, not the provider, is the truth
-- about who waits: positions, the next caller for an operator, wait and talk times.
CREATE TABLE queue_entries (
    id                 INTEGER PRIMARY KEY,
    case_id            INTEGER NOT NULL REFERENCES cases (id),
    -- The caller's call: the wait document and the Enqueue action find the entry by it.
    call_sid           TEXT    NOT NULL,
    -- The step of the call that enqueued it: a retried handoff webhook finds its row again
    -- instead of queueing the caller twice.
    step               INTEGER NOT NULL CHECK (step >= 0),
    -- The operators' language the caller was routed to (not always the caller's own: see
    -- interpreter_needed).
    language           TEXT    NOT NULL,
    -- The provider queue holding this caller alone (`c-2026-000042-17`), so an operator's
    -- <Dial><Queue> reaches exactly this caller.
    provider_queue     TEXT    NOT NULL UNIQUE,
    -- 1 when routed to another language's operators by a fallback rule.
    interpreter_needed INTEGER NOT NULL DEFAULT 0 CHECK (interpreter_needed IN (0, 1)),
    joined_at          TEXT    NOT NULL,
    -- waiting -> connecting (an operator was given this caller) -> bridged (they talk) or
    -- left (hung up, taken out at the maximum wait, or the connection failed).
    state              TEXT    NOT NULL CHECK (state IN ('waiting', 'connecting', 'bridged', 'left')),
    -- Who took (or is taking) the caller.
    operator_id        INTEGER REFERENCES users (id),
    connecting_at      TEXT,
    bridged_at         TEXT,
    ended_at           TEXT,
    -- The provider's QueueResult (bridged, hangup, leave, error ...) or our own reason.
    result             TEXT,
    -- `POST /api/queues/claim`: the caller is kept for this operator's next dial-in until
    -- reserved_until; others skip it meanwhile.
    reserved_for       INTEGER REFERENCES users (id),
    reserved_until     TEXT,
    UNIQUE (call_sid, step)
) STRICT;

-- Positions and "who is next" read the waiting callers of a language in the order they came.
CREATE INDEX queue_entries_waiting ON queue_entries (language, joined_at)
    WHERE state = 'waiting';

-- The wait document and the Enqueue action look a caller's entry up by their call.
CREATE INDEX queue_entries_by_call ON queue_entries (call_sid);

-- The estimate reads the entries bridged in the last minutes.
CREATE INDEX queue_entries_by_bridged_at ON queue_entries (bridged_at)
    WHERE bridged_at IS NOT NULL;

-- Case detail shows who took a case and when.
CREATE INDEX queue_entries_by_case ON queue_entries (case_id);
