-- A WhatsApp account's access token, sealed (store::secrets): never in clear.
ALTER TABLE whatsapp_accounts ADD COLUMN access_token BYTEA;
ALTER TABLE whatsapp_accounts ADD COLUMN token_set_at BIGINT;
