-- PostgreSQL dialect of ../0005_leases.sql. Lease times come from the database's clock (through
-- utc_iso below), so servers whose clocks disagree still agree on when a lease has expired.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT;
ALTER TABLE summary_outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE summary_outbox ADD COLUMN lease_expires_at TEXT;

-- The database's time plus some seconds, in the ISO text form every time column uses.
CREATE FUNCTION utc_iso(seconds DOUBLE PRECISION) RETURNS TEXT LANGUAGE SQL VOLATILE AS $$
    SELECT to_char((clock_timestamp() + seconds * interval '1 second') AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Running jobs by lease expiry: what a server scans to take over a dead server's work.
CREATE INDEX jobs_by_lease ON jobs (lease_expires_at) WHERE status = 'running';

-- The claim order: earliest virtual deadline (arrival + audio seconds) first, as the in-process
-- queue orders jobs. IMMUTABLE is true for the one text form every time column is written in
-- (ISO 8601 UTC, as utcnow() writes it), which lets the queued jobs keep an index in that order,
-- so a claim reads one index entry instead of sorting the whole queue.
CREATE FUNCTION virtual_deadline(created_at TEXT, duration DOUBLE PRECISION) RETURNS DOUBLE PRECISION
    LANGUAGE SQL IMMUTABLE PARALLEL SAFE AS $$
    SELECT extract(epoch FROM (replace(created_at, 'Z', '')::timestamp AT TIME ZONE 'UTC')) + duration
$$;

CREATE INDEX jobs_queued_by_deadline ON jobs (virtual_deadline(created_at, duration), created_at, job_id)
    WHERE status = 'queued';
