DROP TRIGGER conversation_buckets_insert;
DROP TRIGGER conversation_buckets_delete;
DROP TRIGGER conversation_buckets_update;
DROP TABLE conversation_buckets;
DROP INDEX conversations_org_activity;
CREATE INDEX conversations_org_activity ON conversations (org_id, last_activity_at, id);
DROP INDEX conversations_assignee_activity;
CREATE INDEX conversations_assignee_activity ON conversations (assignee_id, last_activity_at, id);
