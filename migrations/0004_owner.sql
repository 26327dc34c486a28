-- Who created each job: the key id of the API key it came with (a configured name, or "key-"
-- and 12 hex characters of the key's SHA-256), never the key itself; NULL when the server ran
-- without keys. With [server] isolate_keys a key sees only the jobs it owns.
ALTER TABLE jobs ADD COLUMN owner TEXT;

CREATE INDEX jobs_by_owner ON jobs (owner, status, created_at);
