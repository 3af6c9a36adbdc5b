ALTER TABLE whatsapp_accounts DROP COLUMN token_set_at;
ALTER TABLE whatsapp_accounts DROP COLUMN access_token;
