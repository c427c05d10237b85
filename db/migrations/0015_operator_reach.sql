-- 0015: how an operator is reached when they are available: on the line (they dialled the
-- operator line and stay on it) or call me (the hotline rings their phone when a caller
-- waits for them, through the provider's REST API).
--
-- Applied by src/storage/migrations.rs in one transaction (see 0001 for the conventions:
-- STRICT tables, RFC 3339 UTC times).

-- `line`: today's dial-in. `call-me`: rung at their phone number.
ALTER TABLE users ADD COLUMN reach TEXT NOT NULL DEFAULT 'line'
    CHECK (reach IN ('line', 'call-me'));
-- The operator's own phone number, sealed like callback numbers (ChaCha20-Poly1305 under
-- the callback key, bound to the operator's id, src/domain/followups.rs). Never in plain text.
ALTER TABLE users ADD COLUMN phone_sealed TEXT;

-- A call-me operator who did not answer (or was busy) is not rung again before this time:
-- their callers go to the next operator meanwhile.
ALTER TABLE presence ADD COLUMN unreachable_until TEXT;

-- The provider's id of the call that rings the operator a caller was claimed for: the
-- answered call must be that very call before it is connected.
ALTER TABLE queue_entries ADD COLUMN ring_call_sid TEXT;
