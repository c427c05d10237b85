-- 0018: how many conversations wait in each line, kept by triggers, so that a handoff's place
-- in line costs as many rows as wait behind it (none, for the one who just arrived) instead of
-- as many as wait ahead. Under a flood of chats that nobody takes, every handoff counted the
-- whole line (0016's index made each row cheap, not the count short): a cost that grew with
-- the line, which is exactly when the line is attacked.
--
-- A line is a queue language (`COALESCE(queue_language, language)`, as 0016 orders it); ''
-- for a conversation in the operator state that has neither, which the hotline never writes.
-- Waiting is `state = 'operator' AND operator_id IS NULL`, 0016's partial index's condition.
-- The triggers are the only writers: every path that moves a conversation (a step, a claim,
-- a close, retention's deletes) keeps the counts without knowing about them.

CREATE TABLE waiting_lines (
    line    TEXT    PRIMARY KEY,
    waiting INTEGER NOT NULL CHECK (waiting >= 0)
) STRICT;

INSERT INTO waiting_lines (line, waiting)
    SELECT COALESCE(queue_language, language, ''), COUNT(*) FROM conversations
    WHERE state = 'operator' AND operator_id IS NULL
    GROUP BY COALESCE(queue_language, language, '');

CREATE TRIGGER waiting_lines_join_on_insert AFTER INSERT ON conversations
    WHEN NEW.state = 'operator' AND NEW.operator_id IS NULL
BEGIN
    INSERT INTO waiting_lines (line, waiting)
        VALUES (COALESCE(NEW.queue_language, NEW.language, ''), 1)
        ON CONFLICT (line) DO UPDATE SET waiting = waiting + 1;
END;

-- A move within one line (the same line before and after) changes no count.
CREATE TRIGGER waiting_lines_leave_on_update
    AFTER UPDATE OF state, operator_id, queue_language, language ON conversations
    WHEN OLD.state = 'operator' AND OLD.operator_id IS NULL
     AND NOT (NEW.state = 'operator' AND NEW.operator_id IS NULL
              AND COALESCE(NEW.queue_language, NEW.language, '')
                  = COALESCE(OLD.queue_language, OLD.language, ''))
BEGIN
    UPDATE waiting_lines SET waiting = waiting - 1
        WHERE line = COALESCE(OLD.queue_language, OLD.language, '');
END;

CREATE TRIGGER waiting_lines_join_on_update
    AFTER UPDATE OF state, operator_id, queue_language, language ON conversations
    WHEN NEW.state = 'operator' AND NEW.operator_id IS NULL
     AND NOT (OLD.state = 'operator' AND OLD.operator_id IS NULL
              AND COALESCE(NEW.queue_language, NEW.language, '')
                  = COALESCE(OLD.queue_language, OLD.language, ''))
BEGIN
    INSERT INTO waiting_lines (line, waiting)
        VALUES (COALESCE(NEW.queue_language, NEW.language, ''), 1)
        ON CONFLICT (line) DO UPDATE SET waiting = waiting + 1;
END;

CREATE TRIGGER waiting_lines_leave_on_delete AFTER DELETE ON conversations
    WHEN OLD.state = 'operator' AND OLD.operator_id IS NULL
BEGIN
    UPDATE waiting_lines SET waiting = waiting - 1
        WHERE line = COALESCE(OLD.queue_language, OLD.language, '');
END;
