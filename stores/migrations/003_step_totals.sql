-- How many rows a step walks, counted once by its first call: a retry reads it back instead of
-- counting a large session again before its first batch.
ALTER TABLE operation_steps ADD COLUMN total bigint;
