ALTER TABLE idempotency_keys DROP COLUMN message_id;
