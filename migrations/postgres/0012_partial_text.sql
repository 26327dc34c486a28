-- PostgreSQL dialect of ../0012_partial_text.sql: the text so far of a running job, for the servers
-- that do not run it, written with its progress and cleared by a new claim and by the job's end.
ALTER TABLE jobs ADD COLUMN partial_text TEXT;
