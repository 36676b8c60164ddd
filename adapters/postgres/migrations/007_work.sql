-- What submission and the agents need (issues 18 and 19), after ArmoniK's TaskData and Result.
-- Every column added here is nullable or has a constant default, so the ALTERs rewrite nothing
-- and a flip of millions of rows stays a HOT update: none of these columns is indexed.
-- max_retries, max_duration and retry_of were placeholders nothing wrote: the options now live
-- whole in `options` (priority and partition_id stay columns, the queue's key), and retries in
-- retry_of_ids. Dropping a column rewrites nothing.
ALTER TABLE tasks
    DROP COLUMN max_retries,
    DROP COLUMN max_duration,
    DROP COLUMN retry_of,
    -- The task's own options, merged over its session's defaults at submission.
    ADD COLUMN options             jsonb,
    ADD COLUMN expected_output_ids text[] NOT NULL DEFAULT '{}',
    -- Every data dependency the task was submitted with (the payload among them, as ArmoniK
    -- counts it); the ones still unresolved are its rows of task_dependencies.
    ADD COLUMN data_dependencies   text[] NOT NULL DEFAULT '{}',
    -- Lineage: the tasks that submitted this one (nearest last) and the first of its retries.
    ADD COLUMN parent_task_ids     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN initial_task_id     text,
    -- The ids this task is a retry of, oldest first (ArmoniK's RetryOfIds).
    ADD COLUMN retry_of_ids        text[] NOT NULL DEFAULT '{}',
    ADD COLUMN created_by          text NOT NULL DEFAULT '',
    -- The agent's dates, as ArmoniK's TaskData carries them.
    ADD COLUMN received_at         timestamptz,
    ADD COLUMN acquired_at         timestamptz,
    ADD COLUMN started_at          timestamptz,
    ADD COLUMN processed_at        timestamptz,
    -- Why the task ended in error (ArmoniK's Output.Error); '' when it did not.
    ADD COLUMN output_error        text NOT NULL DEFAULT '';

ALTER TABLE results
    -- The task (or '' for the client) that created the result; owner_task_id is the one that
    -- must produce it.
    ADD COLUMN created_by text NOT NULL DEFAULT '';

-- A task's subtasks, read when it ends. Partial: only subtasks have an entry, and created_by
-- never changes, so status flips stay HOT updates.
CREATE INDEX tasks_by_creator ON tasks (session_id, created_by) WHERE created_by <> '';

-- ArmoniK names a task by its id alone (CancelTasks, GetTask): task ids are unique across
-- sessions. task_id never changes, so this index costs inserts only, not the HOT flips.
CREATE INDEX tasks_by_id ON tasks (task_id);

-- The unresolved data dependencies: task_id waits on result_id. A row is deleted when its
-- result completes, so a task is ready exactly when it has no row left (one fact, no counter
-- to keep in step). The primary key finds a result's dependants; the second index a task's.
CREATE TABLE task_dependencies (
    session_id text COLLATE "C" NOT NULL,
    result_id  text COLLATE "C" NOT NULL,
    task_id    text COLLATE "C" NOT NULL,
    PRIMARY KEY (session_id, result_id, task_id)
);
CREATE INDEX task_dependencies_by_task ON task_dependencies (session_id, task_id);

-- Tasks whose queue entry must be put where their status says (in the queue if SUBMITTED, out
-- of it otherwise), written in the transaction that changed the status. The relay drains it to
-- Redis after the commit, so a crash between the commit and the push delays the push and
-- loses nothing.
CREATE TABLE queue_outbox (
    seq        bigserial PRIMARY KEY,
    session_id text COLLATE "C" NOT NULL,
    task_id    text COLLATE "C" NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
