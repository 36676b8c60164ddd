-- The Events service's change feed (adapters/postgres/events.py): what a statement changed of
-- the tasks and results, published on the channel `armonik_events` as its transaction commits
-- (NOTIFY is transactional: a rolled-back change publishes nothing). Statement-level triggers
-- over transition tables, so that a bulk flip of 10,000 rows costs one set-based aggregation and
-- a few notifications, not a trigger call per row; no column is added or indexed, so the flips
-- stay HOT updates. A payload is one kind of change in one session:
--   {"s": session, "k": kind, "e": [entry, ...]}
-- with entries of at most ~6,000 bytes each notification (PostgreSQL's limit is 8,000): a new
-- task or result is its id, a status change [id, status], an owner change [id, previous, new].
-- The subscriber reads what else it needs (a new task's fields, whether a row matches its
-- filters) from the rows themselves.
CREATE FUNCTION armonik_publish(kind text, entries jsonb, session text) RETURNS void
LANGUAGE sql AS $$ SELECT pg_notify('armonik_events',
    jsonb_build_object('s', session, 'k', kind, 'e', entries)::text) $$;

-- The entries, one per changed row with its session, cut into notifications by their running
-- size. PL/pgSQL's PERFORM runs the query whole (an SQL function would stop at its first row).
CREATE FUNCTION armonik_publish_all(kind text, changes jsonb[], sessions text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM armonik_publish(kind, jsonb_agg(entry ORDER BY n), session) FROM (
        SELECT c.session, c.entry, c.n,
               sum(octet_length(c.entry::text) + 2) OVER (
                   PARTITION BY c.session ORDER BY c.n ROWS UNBOUNDED PRECEDING) / 6000 AS part
          FROM unnest(sessions, changes) WITH ORDINALITY AS c(session, entry, n)) cut
     GROUP BY session, part;
END $$;

-- One trigger function for both tables: TG_ARGV[0] names the row ("task" or "result"), whose
-- key is <noun>_id.
CREATE FUNCTION armonik_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    noun text := TG_ARGV[0];
    key text := TG_ARGV[0] || '_id';
    changed text := ' FROM after_rows n JOIN before_rows o USING (session_id, ' || key || ')';
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('SELECT armonik_publish_all(%L, array_agg(to_jsonb(%I)),'
                       ' array_agg(session_id)) FROM after_rows HAVING count(*) > 0',
                       'new_' || noun, key);
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT armonik_publish_all(%L, array_agg(jsonb_build_array(n.%I, n.status)),'
                   ' array_agg(n.session_id))%s WHERE n.status <> o.status HAVING count(*) > 0',
                   noun || '_status_update', key, changed);
    IF noun = 'result' THEN
        EXECUTE format('SELECT armonik_publish_all(%L, array_agg(jsonb_build_array(n.%I,'
                       ' coalesce(o.owner_task_id, %L), coalesce(n.owner_task_id, %L))),'
                       ' array_agg(n.session_id))%s'
                       ' WHERE n.owner_task_id IS DISTINCT FROM o.owner_task_id'
                       ' HAVING count(*) > 0',
                       'result_owner_update', key, '', '', changed);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tasks_inserted AFTER INSERT ON tasks REFERENCING NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION armonik_changed('task');
CREATE TRIGGER tasks_updated AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION armonik_changed('task');
CREATE TRIGGER results_inserted AFTER INSERT ON results REFERENCING NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION armonik_changed('result');
CREATE TRIGGER results_updated AFTER UPDATE ON results
    REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
    FOR EACH STATEMENT EXECUTE FUNCTION armonik_changed('result');
