-- envelope's page/limit lists with an exact total: conversations counted per organization, filter
-- family and bucket of last activity (2^26 ms, about 18.6 hours), kept by triggers in the same
-- transaction as every change. A total is a sum over one family's buckets; a deep page walks the
-- buckets to the one it starts in and skips at most that bucket's rows on an index.
-- Families: '' (all), 's:<status>', 'a:<assignee hex>', 'sa:<status>:<assignee hex>' (hex upper-case,
-- empty for unassigned).
CREATE TABLE conversation_buckets (
    org_id BLOB NOT NULL,
    family TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (org_id, family, bucket)
) WITHOUT ROWID;

INSERT INTO conversation_buckets (org_id, family, bucket, n)
SELECT org_id, family, bucket, count(*) FROM (
    SELECT org_id, '' AS family, last_activity_at / 67108864 AS bucket FROM conversations
    UNION ALL SELECT org_id, 's:' || status, last_activity_at / 67108864 FROM conversations
    UNION ALL SELECT org_id, 'a:' || ifnull(hex(assignee_id), ''), last_activity_at / 67108864 FROM conversations
    UNION ALL SELECT org_id, 'sa:' || status || ':' || ifnull(hex(assignee_id), ''), last_activity_at / 67108864 FROM conversations
) GROUP BY org_id, family, bucket;

CREATE TRIGGER conversation_buckets_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversation_buckets (org_id, family, bucket, n) VALUES
        (NEW.org_id, '', NEW.last_activity_at / 67108864, 1),
        (NEW.org_id, 's:' || NEW.status, NEW.last_activity_at / 67108864, 1),
        (NEW.org_id, 'a:' || ifnull(hex(NEW.assignee_id), ''), NEW.last_activity_at / 67108864, 1),
        (NEW.org_id, 'sa:' || NEW.status || ':' || ifnull(hex(NEW.assignee_id), ''), NEW.last_activity_at / 67108864, 1)
    ON CONFLICT (org_id, family, bucket) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER conversation_buckets_delete AFTER DELETE ON conversations BEGIN
    UPDATE conversation_buckets SET n = n - 1
    WHERE org_id = OLD.org_id AND bucket = OLD.last_activity_at / 67108864 AND family IN (
        '', 's:' || OLD.status, 'a:' || ifnull(hex(OLD.assignee_id), ''),
        'sa:' || OLD.status || ':' || ifnull(hex(OLD.assignee_id), ''));
END;

CREATE TRIGGER conversation_buckets_update AFTER UPDATE OF status, assignee_id, last_activity_at ON conversations
WHEN OLD.last_activity_at / 67108864 != NEW.last_activity_at / 67108864
    OR OLD.status != NEW.status
    OR OLD.assignee_id IS NOT NEW.assignee_id
BEGIN
    UPDATE conversation_buckets SET n = n - 1
    WHERE org_id = OLD.org_id AND bucket = OLD.last_activity_at / 67108864 AND family IN (
        '', 's:' || OLD.status, 'a:' || ifnull(hex(OLD.assignee_id), ''),
        'sa:' || OLD.status || ':' || ifnull(hex(OLD.assignee_id), ''));
    INSERT INTO conversation_buckets (org_id, family, bucket, n) VALUES
        (NEW.org_id, '', NEW.last_activity_at / 67108864, 1),
        (NEW.org_id, 's:' || NEW.status, NEW.last_activity_at / 67108864, 1),
        (NEW.org_id, 'a:' || ifnull(hex(NEW.assignee_id), ''), NEW.last_activity_at / 67108864, 1),
        (NEW.org_id, 'sa:' || NEW.status || ':' || ifnull(hex(NEW.assignee_id), ''), NEW.last_activity_at / 67108864, 1)
    ON CONFLICT (org_id, family, bucket) DO UPDATE SET n = n + excluded.n;
END;

-- The skip inside a bucket reads only the index: status and assignee ride along in it, and the
-- assignee index leads with both equalities so the planner prefers it when a list filters by one.
DROP INDEX conversations_org_activity;
CREATE INDEX conversations_org_activity ON conversations (org_id, last_activity_at, id, status, assignee_id);
DROP INDEX conversations_assignee_activity;
CREATE INDEX conversations_assignee_activity ON conversations (assignee_id, org_id, last_activity_at, id, status);
