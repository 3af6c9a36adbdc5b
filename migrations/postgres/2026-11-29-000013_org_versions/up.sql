-- Each organization's change versions, for conditional GETs (ETag / If-None-Match): every write
-- to what a dialect's GET shows moves the organization's version in the same transaction, whichever
-- path made it (a dialect, ingest, the dispatcher, the fetcher, the CLI, another process or
-- instance), by the triggers below; a request reads the version before its data, so a tag is never
-- newer than what it names. Two versions: `inbox` (accounts, users, contacts, tags, conversations,
-- messages, the organization, its keys but not their last use) and `hooks` (webhook subscriptions
-- and deliveries, which change on every delivery and would otherwise invalidate every inbox page).
CREATE TABLE org_versions (
    org_id BYTEA PRIMARY KEY NOT NULL,
    inbox BIGINT NOT NULL DEFAULT 0,
    hooks BIGINT NOT NULL DEFAULT 0
);
-- Moves `col` of `org` once per transaction (a transaction-local setting remembers it), at commit
-- (the triggers are deferred), so concurrent writers of one organization hold its row only while
-- they commit.
CREATE FUNCTION rosetta_bump_version(org BYTEA, col TEXT) RETURNS VOID AS $$
DECLARE
    flag TEXT := 'rosetta.v_' || col || '_' || encode(org, 'hex');
BEGIN
    IF org IS NULL OR current_setting(flag, true) = '1' THEN
        RETURN;
    END IF;
    PERFORM set_config(flag, '1', true);
    IF col = 'hooks' THEN
        INSERT INTO org_versions (org_id, hooks) VALUES (org, 1)
            ON CONFLICT (org_id) DO UPDATE SET hooks = org_versions.hooks + 1;
    ELSE
        INSERT INTO org_versions (org_id, inbox) VALUES (org, 1)
            ON CONFLICT (org_id) DO UPDATE SET inbox = org_versions.inbox + 1;
    END IF;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION rosetta_version_row() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM rosetta_bump_version(OLD.org_id, TG_ARGV[0]);
    ELSE
        PERFORM rosetta_bump_version(NEW.org_id, TG_ARGV[0]);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION rosetta_version_contact_tag() RETURNS TRIGGER AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM rosetta_bump_version((SELECT org_id FROM contacts WHERE id = OLD.contact_id), 'inbox');
    ELSE
        PERFORM rosetta_bump_version((SELECT org_id FROM contacts WHERE id = NEW.contact_id), 'inbox');
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION rosetta_version_organization() RETURNS TRIGGER AS $$
BEGIN
    PERFORM rosetta_bump_version(NEW.id, 'inbox');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER whatsapp_accounts_version AFTER INSERT OR UPDATE OR DELETE ON whatsapp_accounts DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('inbox');
CREATE CONSTRAINT TRIGGER users_version AFTER INSERT OR UPDATE OR DELETE ON users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('inbox');
CREATE CONSTRAINT TRIGGER contacts_version AFTER INSERT OR UPDATE OR DELETE ON contacts DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('inbox');
CREATE CONSTRAINT TRIGGER tags_version AFTER INSERT OR UPDATE OR DELETE ON tags DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('inbox');
CREATE CONSTRAINT TRIGGER conversations_version AFTER INSERT OR UPDATE OR DELETE ON conversations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('inbox');
CREATE CONSTRAINT TRIGGER messages_version AFTER INSERT OR UPDATE OR DELETE ON messages DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('inbox');
CREATE CONSTRAINT TRIGGER webhook_subscriptions_version AFTER INSERT OR UPDATE OR DELETE ON webhook_subscriptions DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('hooks');
CREATE CONSTRAINT TRIGGER webhook_deliveries_version AFTER INSERT OR UPDATE OR DELETE ON webhook_deliveries DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('hooks');
CREATE CONSTRAINT TRIGGER contact_tags_version AFTER INSERT OR DELETE ON contact_tags DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_contact_tag();
CREATE CONSTRAINT TRIGGER organizations_version AFTER UPDATE ON organizations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_organization();
CREATE CONSTRAINT TRIGGER api_keys_version AFTER INSERT OR DELETE ON api_keys DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('inbox');
CREATE CONSTRAINT TRIGGER api_keys_version_change AFTER UPDATE OF name, scopes, expires_at, revoked_at ON api_keys DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION rosetta_version_row('inbox');
-- Every instance keeps the keys it authenticated in memory; any change that can make a key
-- unusable (revocation, expiry, scopes, removal) moves this one version, which each instance reads
-- every 250 ms and empties its cache on (a revocation takes effect everywhere within that).
CREATE TABLE key_changes (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO key_changes (id, version) VALUES (1, 0);
CREATE FUNCTION rosetta_key_change() RETURNS TRIGGER AS $$
BEGIN
    UPDATE key_changes SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER api_keys_key_change AFTER UPDATE OF org_id, scopes, secret_hash, expires_at, revoked_at OR DELETE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION rosetta_key_change();
