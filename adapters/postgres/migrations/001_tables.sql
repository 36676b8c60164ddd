-- Keys are compared bytewise (COLLATE "C") so that a batch cursor orders the same way in
-- PostgreSQL and in Python.

CREATE TABLE partitions (
    partition_id          text COLLATE "C" PRIMARY KEY,
    parent_partition_ids  text[] NOT NULL DEFAULT '{}',
    pod_reserved          bigint NOT NULL DEFAULT 1,
    pod_max               bigint NOT NULL DEFAULT 100,
    preemption_percentage bigint NOT NULL DEFAULT 50,
    priority              bigint NOT NULL DEFAULT 1,
    pod_configuration     jsonb  NOT NULL DEFAULT '{}'
);

CREATE TABLE sessions (
    session_id        text COLLATE "C" PRIMARY KEY,
    status            smallint NOT NULL,
    client_submission boolean NOT NULL DEFAULT true,
    worker_submission boolean NOT NULL DEFAULT true,
    partition_ids     text[] NOT NULL,
    options           jsonb NOT NULL,
    -- Bumped by each Pause and Resume: only the latest one may keep moving tasks.
    epoch             bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    cancelled_at      timestamptz,
    closed_at         timestamptz,
    purged_at         timestamptz,
    deleted_at        timestamptz
);
CREATE INDEX sessions_by_status ON sessions (status);
CREATE INDEX sessions_by_created_at ON sessions (created_at);

-- Bulk operations flip the status of millions of tasks. There is deliberately no index on
-- status: an UPDATE that touches no indexed column can be a HOT update, and fillfactor 70
-- leaves room in each page for the new row versions (a 1M-row flip: 3.9 s against 8.5 s).
-- Batches walk the primary key instead.
CREATE TABLE tasks (
    session_id   text COLLATE "C" NOT NULL,
    task_id      text COLLATE "C" NOT NULL,
    status       smallint NOT NULL,
    priority     integer NOT NULL,
    partition_id text COLLATE "C" NOT NULL,
    owner_pod_id text,
    payload_id   text,
    max_retries  integer NOT NULL DEFAULT 1,
    max_duration double precision,
    retry_of     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    ended_at     timestamptz,
    PRIMARY KEY (session_id, task_id)
) WITH (fillfactor = 70);

CREATE TABLE results (
    session_id      text COLLATE "C" NOT NULL,
    result_id       text COLLATE "C" NOT NULL,
    name            text NOT NULL,
    status          smallint NOT NULL,
    owner_task_id   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    size            bigint NOT NULL DEFAULT 0,
    -- The object's key in object storage; cleared once the object is deleted.
    opaque_id       text,
    manual_deletion boolean NOT NULL DEFAULT false,
    PRIMARY KEY (session_id, result_id)
) WITH (fillfactor = 70);

-- Every admitted operation, once. An activity retried after its admission committed finds its
-- own row here instead of being admitted (or refused) a second time.
CREATE TABLE operations (
    op_id        text PRIMARY KEY,
    seq          bigserial UNIQUE,
    session_id   text COLLATE "C" NOT NULL,
    operation    text NOT NULL,
    from_status  smallint,
    to_status    smallint,
    epoch        bigint NOT NULL,
    admitted_at  timestamptz NOT NULL DEFAULT now(),
    -- Set by an operation's last step, in the same transaction, so that a retry of that step
    -- knows it already ran.
    finished_at  timestamptz
);
CREATE INDEX operations_by_session ON operations (session_id);

-- The checkpoint of each batch step of an operation: the cursor is advanced in the same
-- transaction as the batch it covers.
CREATE TABLE operation_steps (
    op_id             text NOT NULL,
    step              text NOT NULL,
    session_id        text COLLATE "C" NOT NULL,
    cursor            text COLLATE "C" NOT NULL DEFAULT '',
    done              boolean NOT NULL DEFAULT false,
    scanned           bigint NOT NULL DEFAULT 0,
    changed           bigint NOT NULL DEFAULT 0,
    -- batches_started counts every batch that began, committed or not; the difference with
    -- batches_committed is the work redone after a crash.
    batches_started   bigint NOT NULL DEFAULT 0,
    batches_committed bigint NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (op_id, step)
);
CREATE INDEX operation_steps_by_session ON operation_steps (session_id);
