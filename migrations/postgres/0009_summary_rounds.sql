-- PostgreSQL dialect of ../0009_summary_rounds.sql (the constraint changes in place).
ALTER TABLE jobs ADD COLUMN summary_round INTEGER NOT NULL DEFAULT 0;

ALTER TABLE webhook_deliveries ADD COLUMN round INTEGER NOT NULL DEFAULT 0;

ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_job_id_type_key;

ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_job_id_type_round_key UNIQUE (job_id, type, round);
