-- The line of conversations waiting for an operator, per queue language, in order: a
-- handoff's place is counted on this index alone. With the index of 0012 (every conversation
-- with an operator, by time) the count read each row ahead from the table, so a handoff cost
-- as much as the line was long. The columns after the order are there only so that the count
-- never leaves the index (SQLite does not take a partial index's own conditions as columns).
CREATE INDEX conversations_waiting_line
    ON conversations (
        COALESCE(queue_language, language), queued_at, state, operator_id, queue_language, language
    )
    WHERE state = 'operator' AND operator_id IS NULL;
