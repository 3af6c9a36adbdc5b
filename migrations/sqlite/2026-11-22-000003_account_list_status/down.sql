DROP INDEX conversations_account_last_message;
CREATE INDEX conversations_account_last_message ON conversations (account_id, last_message_key, id);
