-- Uploads are fingerprinted with BLAKE3 (about 4x faster than SHA-256 here, so hashing keeps up
-- with receiving); the column says what it holds, "blake3:<hex>". Rows written before hold a bare
-- SHA-256 hex: the same file re-sent under such a job's id answers 409 instead of that job.
ALTER TABLE jobs RENAME COLUMN upload_sha256 TO upload_digest;
