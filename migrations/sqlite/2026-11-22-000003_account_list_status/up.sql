-- kirim lists one account's conversations by last message, often filtered by status: with the
-- status in the index, rows of other statuses are passed over without reading the table. org_id
-- beside account_id makes it the planner's clear choice over conversations_org_last_message (the
-- list filters by both).
DROP INDEX conversations_account_last_message;
CREATE INDEX conversations_account_last_message ON conversations (account_id, org_id, last_message_key, id, status);
