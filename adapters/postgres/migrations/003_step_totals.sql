-- How many rows a step walks, as its sweep's plan counted them: the figure its progress is
-- measured against, kept beside its checkpoint for whoever reads the operations log.
ALTER TABLE operation_steps ADD COLUMN total bigint;
