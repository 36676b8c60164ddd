-- An operation whose status change comes with its last step (Purge) takes its place among the
-- session's operations when that step commits, not when it was admitted: record that place.
ALTER TABLE operations ADD COLUMN finished_seq bigint;
