-- PostgreSQL dialect of ../0011_tus_uploads.sql: byte counts are BIGINT.
CREATE TABLE tus_uploads (
    upload_id     TEXT PRIMARY KEY,
    owner         TEXT,
    upload_length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL DEFAULT 0,
    job_id        TEXT NOT NULL,
    filename      TEXT,
    fields        TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE INDEX tus_uploads_updated ON tus_uploads (updated_at);
