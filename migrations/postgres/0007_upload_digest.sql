-- PostgreSQL dialect of ../0007_upload_digest.sql (the same statement).
-- Uploads are fingerprinted with BLAKE3; the column says what it holds, "blake3:<hex>".
ALTER TABLE jobs RENAME COLUMN upload_sha256 TO upload_digest;
