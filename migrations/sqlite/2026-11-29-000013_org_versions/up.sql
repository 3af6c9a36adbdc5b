-- Each organization's change versions, for conditional GETs (ETag / If-None-Match): every write
-- to what a dialect's GET shows moves the organization's version in the same transaction, whichever
-- path made it (a dialect, ingest, the dispatcher, the fetcher, the CLI, another process or
-- instance), by the triggers below; a request reads the version before its data, so a tag is never
-- newer than what it names. Two versions: `inbox` (accounts, users, contacts, tags, conversations,
-- messages, the organization, its keys but not their last use) and `hooks` (webhook subscriptions
-- and deliveries, which change on every delivery and would otherwise invalidate every inbox page).
CREATE TABLE org_versions (
    org_id BLOB PRIMARY KEY NOT NULL,
    inbox BIGINT NOT NULL DEFAULT 0,
    hooks BIGINT NOT NULL DEFAULT 0
);
CREATE TRIGGER whatsapp_accounts_version_insert AFTER INSERT ON whatsapp_accounts BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER whatsapp_accounts_version_update AFTER UPDATE ON whatsapp_accounts BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER whatsapp_accounts_version_delete AFTER DELETE ON whatsapp_accounts BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER users_version_insert AFTER INSERT ON users BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER users_version_update AFTER UPDATE ON users BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER users_version_delete AFTER DELETE ON users BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER contacts_version_insert AFTER INSERT ON contacts BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER contacts_version_update AFTER UPDATE ON contacts BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER contacts_version_delete AFTER DELETE ON contacts BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER tags_version_insert AFTER INSERT ON tags BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER tags_version_update AFTER UPDATE ON tags BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER tags_version_delete AFTER DELETE ON tags BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER conversations_version_insert AFTER INSERT ON conversations BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER conversations_version_update AFTER UPDATE ON conversations BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER conversations_version_delete AFTER DELETE ON conversations BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER messages_version_insert AFTER INSERT ON messages BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER messages_version_update AFTER UPDATE ON messages BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER messages_version_delete AFTER DELETE ON messages BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER webhook_subscriptions_version_insert AFTER INSERT ON webhook_subscriptions BEGIN INSERT INTO org_versions (org_id, hooks) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET hooks = hooks + 1; END;
CREATE TRIGGER webhook_subscriptions_version_update AFTER UPDATE ON webhook_subscriptions BEGIN INSERT INTO org_versions (org_id, hooks) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET hooks = hooks + 1; END;
CREATE TRIGGER webhook_subscriptions_version_delete AFTER DELETE ON webhook_subscriptions BEGIN INSERT INTO org_versions (org_id, hooks) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET hooks = hooks + 1; END;
CREATE TRIGGER webhook_deliveries_version_insert AFTER INSERT ON webhook_deliveries BEGIN INSERT INTO org_versions (org_id, hooks) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET hooks = hooks + 1; END;
CREATE TRIGGER webhook_deliveries_version_update AFTER UPDATE ON webhook_deliveries BEGIN INSERT INTO org_versions (org_id, hooks) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET hooks = hooks + 1; END;
CREATE TRIGGER webhook_deliveries_version_delete AFTER DELETE ON webhook_deliveries BEGIN INSERT INTO org_versions (org_id, hooks) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET hooks = hooks + 1; END;
CREATE TRIGGER contact_tags_version_insert AFTER INSERT ON contact_tags BEGIN INSERT INTO org_versions (org_id, inbox) VALUES ((SELECT org_id FROM contacts WHERE id = NEW.contact_id), 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER contact_tags_version_delete AFTER DELETE ON contact_tags BEGIN INSERT INTO org_versions (org_id, inbox) VALUES ((SELECT org_id FROM contacts WHERE id = OLD.contact_id), 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER organizations_version_update AFTER UPDATE ON organizations BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER api_keys_version_insert AFTER INSERT ON api_keys BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER api_keys_version_update AFTER UPDATE OF name, scopes, expires_at, revoked_at ON api_keys BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (NEW.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
CREATE TRIGGER api_keys_version_delete AFTER DELETE ON api_keys BEGIN INSERT INTO org_versions (org_id, inbox) VALUES (OLD.org_id, 1) ON CONFLICT (org_id) DO UPDATE SET inbox = inbox + 1; END;
-- Every instance keeps the keys it authenticated in memory; any change that can make a key
-- unusable (revocation, expiry, scopes, removal) moves this one version, which each instance reads
-- every 250 ms and empties its cache on (a revocation takes effect everywhere within that).
CREATE TABLE key_changes (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO key_changes (id, version) VALUES (1, 0);
CREATE TRIGGER api_keys_key_change_update AFTER UPDATE OF org_id, scopes, secret_hash, expires_at, revoked_at ON api_keys BEGIN UPDATE key_changes SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_key_change_delete AFTER DELETE ON api_keys BEGIN UPDATE key_changes SET version = version + 1 WHERE id = 1; END;
