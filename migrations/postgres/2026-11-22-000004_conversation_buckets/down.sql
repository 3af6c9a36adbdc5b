DROP TRIGGER conversation_buckets_update ON conversations;
DROP TRIGGER conversation_buckets_insert_delete ON conversations;
DROP FUNCTION conversation_buckets_track();
DROP FUNCTION conversation_bucket_families(TEXT, BYTEA);
DROP TABLE conversation_buckets;
DROP INDEX conversations_org_activity;
CREATE INDEX conversations_org_activity ON conversations (org_id, last_activity_at, id);
DROP INDEX conversations_assignee_activity;
CREATE INDEX conversations_assignee_activity ON conversations (assignee_id, last_activity_at, id);
