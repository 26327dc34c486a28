-- Diarized jobs: [{"id", "name", "seconds"}, ...] as JSON, in order of first appearance; names change
-- with PATCH /jobs/{job_id}/speakers. NULL when the job was not diarized.
ALTER TABLE jobs ADD COLUMN speakers TEXT;

-- Enrolled voices (POST /voices): a person's name and GE2E voice vector (JSON list of 256 numbers),
-- owned by the API key id that made it (NULL without keys). A diarized job of that owner names
-- each speaker whose vector matches one of these.
CREATE TABLE voices (
    voice_id   TEXT PRIMARY KEY,
    owner      TEXT,
    name       TEXT NOT NULL,
    vector     TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX voices_owner ON voices (owner);
