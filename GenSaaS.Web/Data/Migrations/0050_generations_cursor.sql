-- The history is read newest first in pages that start after a given generation: (created_at, id) is the cursor, so two
-- images made in the same instant still have one order and a page never repeats or skips one. This index answers
-- "the next page after (created_at, id)" as one range seek, at any depth, read backwards. It replaces the index on
-- (user_id, created_at), which it covers.
CREATE INDEX ix_generations_user_created_id ON generations (user_id, created_at, id);
DROP INDEX IF EXISTS ix_generations_user_created;
