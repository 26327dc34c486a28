-- PostgreSQL dialect of ../0001_jobs.sql: the same table, columns and meanings. Times stay ISO
-- 8601 UTC text and statuses stay text, so psql answers "what happened to job X" exactly as the
-- sqlite3 shell does on the embedded default, and both stores share one code path for rows.
CREATE TABLE jobs (
    job_id               TEXT PRIMARY KEY,
    status               TEXT NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    created_at           TEXT NOT NULL,
    started_at           TEXT,
    finished_at          TEXT,
    updated_at           TEXT NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    progress             DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    duration             DOUBLE PRECISION NOT NULL,
    language             TEXT,
    language_probability DOUBLE PRECISION,
    options              TEXT NOT NULL DEFAULT '{}',   -- JSON: language, task, word_timestamps, ...
    upload_path          TEXT,                         -- relative to the data directory
    upload_bytes         BIGINT NOT NULL,
    upload_sha256        TEXT NOT NULL,
    upload_filename      TEXT,                         -- as the client named it; never used as a path
    upload_format        TEXT,
    text                 TEXT,
    error_code           TEXT,
    error_message        TEXT,
    cancel_requested     INTEGER NOT NULL DEFAULT 0,
    model                TEXT,
    engine_version       TEXT,
    processing_seconds   DOUBLE PRECISION
);

CREATE INDEX jobs_by_status ON jobs (status, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
