-- "Summarize again" is a new event: each summary a job is asked for is a round (counted on the
-- job), and each round's summary event is one delivery: UNIQUE (job_id, type) becomes
-- UNIQUE (job_id, type, round). Summaries and deliveries from before count as round 0.
-- SQLite cannot change a table's constraint in place: the deliveries table is rebuilt.
ALTER TABLE jobs ADD COLUMN summary_round INTEGER NOT NULL DEFAULT 0;

CREATE TABLE webhook_deliveries_rounds (
    webhook_id      TEXT PRIMARY KEY,
    job_id          TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    type            TEXT NOT NULL CHECK (type IN ('job.completed', 'job.failed', 'job.cancelled',
                                                  'summary.completed', 'summary.failed')),
    round           INTEGER NOT NULL DEFAULT 0,  -- the job's summary_round for summary events; 0 else
    url             TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT,
    UNIQUE (job_id, type, round)
);

INSERT INTO webhook_deliveries_rounds (webhook_id, job_id, type, url, payload, state, attempts, next_attempt_at,
                                       last_status, last_error, created_at, updated_at, delivered_at)
SELECT webhook_id, job_id, type, url, payload, state, attempts, next_attempt_at,
       last_status, last_error, created_at, updated_at, delivered_at
  FROM webhook_deliveries;

DROP TABLE webhook_deliveries;

ALTER TABLE webhook_deliveries_rounds RENAME TO webhook_deliveries;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
