-- Resumable uploads (tus 1.0 at /uploads/): one row per unfinished upload. upload_offset is the
-- byte count known to be on disk (fsynced before the row says so), so an upload resumes after a
-- restart from exactly there. The row goes once the upload becomes a job, is terminated or expires.
CREATE TABLE tus_uploads (
    upload_id     TEXT PRIMARY KEY,
    owner         TEXT,                  -- the API key id that created it (isolation as for jobs)
    upload_length INTEGER NOT NULL,      -- Upload-Length: the whole file, declared at creation
    upload_offset INTEGER NOT NULL DEFAULT 0,
    job_id        TEXT NOT NULL,         -- fixed at creation, so finishing twice makes one job
    filename      TEXT,
    fields        TEXT NOT NULL,         -- JSON of the form fields from Upload-Metadata
    metadata      TEXT NOT NULL,         -- Upload-Metadata as the client sent it (HEAD returns it)
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL          -- the last PATCH; expiry counts from here
);

CREATE INDEX tus_uploads_updated ON tus_uploads (updated_at);
