-- The languages a transcript holds, in order of first appearance ("en,de"), as the per-segment
-- detection found them; language stays the main one.
ALTER TABLE jobs ADD COLUMN languages TEXT;
