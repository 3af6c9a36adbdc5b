-- envelope's page/limit lists with an exact total: see the SQLite migration of the same name.
-- Families: '' (all), 's:<status>', 'a:<assignee hex>', 'sa:<status>:<assignee hex>' (hex upper-case,
-- empty for unassigned). One statement applies a change's deltas in key order, netted per key, so
-- two transactions never take the counter rows in opposite orders.
CREATE TABLE conversation_buckets (
    org_id BYTEA NOT NULL,
    family TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (org_id, family, bucket)
);

CREATE FUNCTION conversation_bucket_families(status TEXT, assignee BYTEA) RETURNS TEXT[] AS $$
    SELECT ARRAY['', 's:' || status, 'a:' || coalesce(upper(encode(assignee, 'hex')), ''),
                 'sa:' || status || ':' || coalesce(upper(encode(assignee, 'hex')), '')]
$$ LANGUAGE sql IMMUTABLE;

INSERT INTO conversation_buckets (org_id, family, bucket, n)
SELECT org_id, f, last_activity_at / 67108864, count(*)
FROM conversations, unnest(conversation_bucket_families(status, assignee_id)) AS f
GROUP BY org_id, f, last_activity_at / 67108864;

CREATE FUNCTION conversation_buckets_track() RETURNS trigger AS $$
BEGIN
    INSERT INTO conversation_buckets AS b (org_id, family, bucket, n)
    SELECT d.org_id, d.family, d.bucket, sum(d.delta)
    FROM (
        SELECT OLD.org_id AS org_id, f AS family, OLD.last_activity_at / 67108864 AS bucket, -1 AS delta
        FROM unnest(conversation_bucket_families(OLD.status, OLD.assignee_id)) AS f
        WHERE TG_OP <> 'INSERT'
        UNION ALL
        SELECT NEW.org_id, f, NEW.last_activity_at / 67108864, 1
        FROM unnest(conversation_bucket_families(NEW.status, NEW.assignee_id)) AS f
        WHERE TG_OP <> 'DELETE'
    ) d
    GROUP BY d.org_id, d.family, d.bucket
    HAVING sum(d.delta) <> 0
    ORDER BY d.org_id, d.family, d.bucket
    ON CONFLICT (org_id, family, bucket) DO UPDATE SET n = b.n + EXCLUDED.n;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER conversation_buckets_insert_delete AFTER INSERT OR DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversation_buckets_track();
CREATE TRIGGER conversation_buckets_update AFTER UPDATE OF status, assignee_id, last_activity_at ON conversations
    FOR EACH ROW
    WHEN (OLD.last_activity_at / 67108864 <> NEW.last_activity_at / 67108864
          OR OLD.status <> NEW.status
          OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id)
    EXECUTE FUNCTION conversation_buckets_track();

DROP INDEX conversations_org_activity;
CREATE INDEX conversations_org_activity ON conversations (org_id, last_activity_at, id, status, assignee_id);
DROP INDEX conversations_assignee_activity;
CREATE INDEX conversations_assignee_activity ON conversations (assignee_id, org_id, last_activity_at, id, status);
