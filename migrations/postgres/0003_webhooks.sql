-- PostgreSQL dialect of ../0003_webhooks.sql.
ALTER TABLE jobs ADD COLUMN callback_url TEXT;

CREATE INDEX jobs_callback_updated ON jobs (updated_at) WHERE callback_url IS NOT NULL;
CREATE INDEX jobs_callback_summary ON jobs (summary_updated_at) WHERE callback_url IS NOT NULL;

CREATE TABLE webhook_deliveries (
    webhook_id      TEXT PRIMARY KEY,      -- the webhook-id header: stable across retries
    job_id          TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    type            TEXT NOT NULL CHECK (type IN ('job.completed', 'job.failed', 'job.cancelled',
                                                  'summary.completed', 'summary.failed')),
    url             TEXT NOT NULL,
    payload         TEXT NOT NULL,         -- the JSON body, fixed when the event happened
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_status     INTEGER,               -- the receiver's HTTP status of the last attempt
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT,
    UNIQUE (job_id, type)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
