-- A step whose unit of work is one store call (an S3 delete of 1,000 keys) rather than one
-- transaction runs several calls side by side, and they end in any order. The cursor covers the
-- keys up to the first call not yet acknowledged; `acked` holds the spans (after, last] beyond it
-- that later calls acknowledged, as [[after, last], ...] in key order, so that a retry redoes
-- only the calls that failed, not every call after the first failure.
ALTER TABLE operation_steps ADD COLUMN acked jsonb NOT NULL DEFAULT '[]';
