-- The text so far of a running job, for the servers that do not run it (a shared database):
-- written with its progress, cleared by a new claim and by the job's end. NULL on one server.
ALTER TABLE jobs ADD COLUMN partial_text TEXT;
