-- PostgreSQL dialect of ../0002_summaries.sql.
ALTER TABLE jobs ADD COLUMN summary_status TEXT NOT NULL DEFAULT 'disabled'
    CHECK (summary_status IN ('disabled', 'pending', 'queued', 'running', 'completed', 'failed'));
ALTER TABLE jobs ADD COLUMN summary_text TEXT;
ALTER TABLE jobs ADD COLUMN summary_error TEXT;
ALTER TABLE jobs ADD COLUMN summary_updated_at TEXT;

CREATE TABLE summary_outbox (
    job_id          TEXT PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'enqueued')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL
);

CREATE INDEX summary_outbox_due ON summary_outbox (state, next_attempt_at);
