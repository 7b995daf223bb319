-- What a personal API key may do: space-separated scopes from 'generate', 'read', 'admin'.
-- Keys made before scopes existed keep what they could do then, less the admin role (which now needs 'admin').
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'generate read';
CREATE INDEX ix_api_keys_user_live ON api_keys (user_id) WHERE revoked_at IS NULL;
