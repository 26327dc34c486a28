-- PostgreSQL dialect of ../0008_history.sql.
-- Finished jobs in the order they finished: retention deletes the oldest in set-based batches.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('completed', 'failed', 'cancelled');
