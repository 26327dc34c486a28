-- One row per transcription job. Statuses and times are text so the sqlite3 shell answers
-- "what happened to job X, when, and why" without decoding anything.
CREATE TABLE jobs (
    job_id               TEXT PRIMARY KEY,
    status               TEXT NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    created_at           TEXT NOT NULL,
    started_at           TEXT,
    finished_at          TEXT,
    updated_at           TEXT NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    progress             REAL NOT NULL DEFAULT 0.0,
    duration             REAL NOT NULL,
    language             TEXT,
    language_probability REAL,
    options              TEXT NOT NULL DEFAULT '{}',   -- JSON: language, task, word_timestamps, ...
    upload_path          TEXT,                         -- relative to the data directory
    upload_bytes         INTEGER NOT NULL,
    upload_sha256        TEXT NOT NULL,
    upload_filename      TEXT,                         -- as the client named it; never used as a path
    upload_format        TEXT,
    text                 TEXT,
    error_code           TEXT,
    error_message        TEXT,
    cancel_requested     INTEGER NOT NULL DEFAULT 0,
    model                TEXT,
    engine_version       TEXT,
    processing_seconds   REAL
);

CREATE INDEX jobs_by_status ON jobs (status, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
