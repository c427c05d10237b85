-- SQLite's 0018: the count of conversations waiting in each line, kept by triggers. The same
-- WHEN conditions as SQLite's; their bodies are one PL/pgSQL function per direction, the
-- line passed as an argument would be in SQLite's body.

CREATE TABLE waiting_lines (
    line    TEXT COLLATE "C" PRIMARY KEY,
    waiting BIGINT NOT NULL CHECK (waiting >= 0)
);

INSERT INTO waiting_lines (line, waiting)
    SELECT COALESCE(queue_language, language, ''), COUNT(*) FROM conversations
    WHERE state = 'operator' AND operator_id IS NULL
    GROUP BY COALESCE(queue_language, language, '');

CREATE FUNCTION waiting_lines_join() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO waiting_lines (line, waiting)
        VALUES (COALESCE(NEW.queue_language, NEW.language, ''), 1)
        ON CONFLICT (line) DO UPDATE SET waiting = waiting_lines.waiting + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION waiting_lines_leave() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE waiting_lines SET waiting = waiting - 1
        WHERE line = COALESCE(OLD.queue_language, OLD.language, '');
    RETURN NULL;
END
$$;

CREATE TRIGGER waiting_lines_join_on_insert AFTER INSERT ON conversations
    FOR EACH ROW WHEN (NEW.state = 'operator' AND NEW.operator_id IS NULL)
    EXECUTE FUNCTION waiting_lines_join();

CREATE TRIGGER waiting_lines_leave_on_update
    AFTER UPDATE OF state, operator_id, queue_language, language ON conversations
    FOR EACH ROW WHEN (OLD.state = 'operator' AND OLD.operator_id IS NULL
        AND NOT (NEW.state = 'operator' AND NEW.operator_id IS NULL
                 AND COALESCE(NEW.queue_language, NEW.language, '')
                     = COALESCE(OLD.queue_language, OLD.language, '')))
    EXECUTE FUNCTION waiting_lines_leave();

CREATE TRIGGER waiting_lines_join_on_update
    AFTER UPDATE OF state, operator_id, queue_language, language ON conversations
    FOR EACH ROW WHEN (NEW.state = 'operator' AND NEW.operator_id IS NULL
        AND NOT (OLD.state = 'operator' AND OLD.operator_id IS NULL
                 AND COALESCE(NEW.queue_language, NEW.language, '')
                     = COALESCE(OLD.queue_language, OLD.language, '')))
    EXECUTE FUNCTION waiting_lines_join();

CREATE TRIGGER waiting_lines_leave_on_delete AFTER DELETE ON conversations
    FOR EACH ROW WHEN (OLD.state = 'operator' AND OLD.operator_id IS NULL)
    EXECUTE FUNCTION waiting_lines_leave();

-- TRUNCATE fires no row trigger: emptying the conversations empties every line.
CREATE FUNCTION waiting_lines_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM waiting_lines;
    RETURN NULL;
END
$$;

CREATE TRIGGER waiting_lines_empty_on_truncate AFTER TRUNCATE ON conversations
    FOR EACH STATEMENT EXECUTE FUNCTION waiting_lines_empty();
