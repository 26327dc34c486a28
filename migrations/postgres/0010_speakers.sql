-- Diarized jobs: [{"id", "name", "seconds"}, ...] as JSON, in order of first appearance; names change
-- with PATCH /jobs/{job_id}/speakers. NULL when the job was not diarized.
ALTER TABLE jobs ADD COLUMN speakers TEXT;
