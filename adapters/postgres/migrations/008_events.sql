-- The Events service's change feed (adapters/postgres/events.py): what a statement changed of
-- the tasks and results, published on the channel `armonik_events` as its transaction commits
-- (NOTIFY is transactional: a rolled-back change publishes nothing). Statement-level triggers
-- over transition tables, so that a bulk flip of 10,000 rows costs one set-based aggregation and
-- a few notifications, not a trigger call per row; no column is added or indexed, so the flips
-- stay HOT updates. A payload is one kind of change in one session, as text (ids hold no
-- control character, lifecycle/options.check_id):
--   kind RS session RS entry GS entry GS ...      (RS = \x1e, GS = \x1d, fields split by \x1f)
-- with at most ~6,000 bytes of entries a notification (PostgreSQL's limit is 8,000): a new task
-- or result is its id, a status change id US status, an owner change id US previous US new.
-- The subscriber reads what else it needs (a new task's fields, whether a row matches its
-- filters) from the rows themselves.

-- The entries, one per changed row with its session, cut into notifications of as many
-- entries as the longest fits 6,000 bytes. PL/pgSQL's PERFORM runs the query whole.
CREATE FUNCTION armonik_publish_all(kind text, entries text[], sessions text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    per bigint := greatest(1, 6000 / ((SELECT max(octet_length(e)) FROM unnest(entries) e) + 1));
BEGIN
    PERFORM pg_notify('armonik_events',
                      kind || E'\x1e' || session || E'\x1e' || string_agg(entry, E'\x1d' ORDER BY n))
       FROM unnest(sessions, entries) WITH ORDINALITY AS c(session, entry, n)
      GROUP BY session, (n - 1) / per;
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
        EXECUTE format('SELECT armonik_publish_all(%L, array_agg(%I), array_agg(session_id))'
                       ' FROM after_rows HAVING count(*) > 0', 'new_' || noun, key);
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT armonik_publish_all(%L, array_agg(n.%I || E''\x1f'' || n.status),'
                   ' array_agg(n.session_id))%s WHERE n.status <> o.status HAVING count(*) > 0',
                   noun || '_status_update', key, changed);
    IF noun = 'result' THEN
        EXECUTE format('SELECT armonik_publish_all(%L, array_agg(n.%I || E''\x1f'''
                       ' || coalesce(o.owner_task_id, '''') || E''\x1f'''
                       ' || coalesce(n.owner_task_id, '''')), array_agg(n.session_id))%s'
                       ' WHERE n.owner_task_id IS DISTINCT FROM o.owner_task_id'
                       ' HAVING count(*) > 0',
                       'result_owner_update', key, changed);
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
