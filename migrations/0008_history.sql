-- History at scale: the passes that look at finished jobs read an index, never the whole history.
-- Finished jobs in the order they finished: retention deletes the oldest in set-based batches.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('completed', 'failed', 'cancelled');
-- Jobs by the upload file they hold: the start-up sweep asks which of the files it finds a row
-- still needs, and finds finished jobs' leftover uploads when uploads are not kept.
CREATE INDEX jobs_by_upload ON jobs (upload_path) WHERE upload_path IS NOT NULL;
-- Queued jobs oldest first: after a restart the ones beyond the queue's capacity wait in the
-- database and are let in a page at a time from a (created_at, job_id) cursor.
CREATE INDEX jobs_queued ON jobs (created_at, job_id) WHERE status = 'queued';
-- A key's jobs newest first (/jobs under isolate_keys): jobs_by_owner starts with the status, so
-- without one a page sorted every job the key ever made.
CREATE INDEX jobs_by_owner_created ON jobs (owner, created_at, job_id);
