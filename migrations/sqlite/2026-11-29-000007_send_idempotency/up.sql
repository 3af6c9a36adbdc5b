-- A send's Idempotency-Key names its message, written in the send's own transaction: a retry of
-- the same request finds the message (never a second send), even if the first response was never
-- recorded.
ALTER TABLE idempotency_keys ADD COLUMN message_id BLOB;
-- Meta refused the account's token (error 190): sends are refused until a new token is set.
ALTER TABLE whatsapp_accounts ADD COLUMN token_invalid_at BIGINT;
