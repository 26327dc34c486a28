-- Leases: which server holds a running job, and until when. Only PostgreSQL (many servers) uses
-- them; the embedded default keeps the columns empty so both schemas stay the same. The summary
-- outbox gets the same pair so that exactly one server relays each summary.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT;
ALTER TABLE summary_outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE summary_outbox ADD COLUMN lease_expires_at TEXT;
