ALTER TABLE idempotency_keys DROP COLUMN message_id;
ALTER TABLE whatsapp_accounts DROP COLUMN token_invalid_at;
