-- Rosetta's schema. Identical in sqlite/ and postgres/ but for column type names.
-- Ids are ULIDs as 16 raw bytes; times are Unix milliseconds (UTC) in BIGINT.

CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

CREATE TABLE organizations (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE whatsapp_accounts (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    phone_number_id TEXT NOT NULL UNIQUE,
    phone_number TEXT NOT NULL,
    name TEXT,
    connected BOOLEAN NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX whatsapp_accounts_org ON whatsapp_accounts (org_id, phone_number_id);

CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, email)
);

CREATE TABLE contacts (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    phone TEXT NOT NULL,
    name TEXT,
    email TEXT,
    company TEXT,
    avatar_url TEXT,
    metadata TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, phone)
);
CREATE INDEX contacts_org_created ON contacts (org_id, created_at, id);

CREATE TABLE tags (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    color TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE contact_tags (
    contact_id BLOB NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag_id BLOB NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (contact_id, tag_id)
);
CREATE INDEX contact_tags_tag ON contact_tags (tag_id, contact_id);

CREATE TABLE conversations (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    account_id BLOB NOT NULL REFERENCES whatsapp_accounts (id),
    contact_id BLOB NOT NULL REFERENCES contacts (id),
    status TEXT NOT NULL,
    assignee_id BLOB REFERENCES users (id),
    unread_count BIGINT NOT NULL DEFAULT 0,
    last_message_text TEXT,
    last_message_direction TEXT,
    last_message_at BIGINT,
    -- last_message_at, or -1 when there is none: "nulls last" for a descending keyset walk.
    last_message_key BIGINT NOT NULL,
    -- last_message_at, or created_at when there is no message: envelope's "last activity".
    last_activity_at BIGINT NOT NULL,
    last_inbound_at BIGINT,
    source TEXT,
    first_message_at BIGINT,
    resolution TEXT,
    closed_at BIGINT,
    closed_by BLOB,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (account_id, contact_id)
);
-- One index per ordering and leading filter, each ending in id: every page is one range scan.
CREATE INDEX conversations_org_created ON conversations (org_id, created_at, id);
CREATE INDEX conversations_org_last_message ON conversations (org_id, last_message_key, id);
CREATE INDEX conversations_org_activity ON conversations (org_id, last_activity_at, id);
CREATE INDEX conversations_account_last_message ON conversations (account_id, last_message_key, id);
CREATE INDEX conversations_contact ON conversations (contact_id, created_at, id);
CREATE INDEX conversations_assignee_created ON conversations (assignee_id, created_at, id);
CREATE INDEX conversations_assignee_activity ON conversations (assignee_id, last_activity_at, id);

CREATE TABLE messages (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    wamid TEXT,
    direction TEXT NOT NULL,
    sender_type TEXT NOT NULL,
    sender_user_id BLOB,
    content_type TEXT NOT NULL,
    text TEXT,
    media_id TEXT,
    media_url TEXT,
    mime_type TEXT,
    filename TEXT,
    latitude DOUBLE,
    longitude DOUBLE,
    location_name TEXT,
    location_address TEXT,
    template_name TEXT,
    interactive_reply_id TEXT,
    interactive_reply_title TEXT,
    button_payload TEXT,
    reaction_emoji TEXT,
    reaction_to_wamid TEXT,
    reply_to_message_id BLOB,
    context_wamid TEXT,
    raw_type TEXT,
    status TEXT NOT NULL,
    error_code BIGINT,
    error_title TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at, id);
CREATE UNIQUE INDEX messages_wamid ON messages (org_id, wamid) WHERE wamid IS NOT NULL;

CREATE TABLE api_keys (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    name TEXT,
    style TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    last4 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_org ON api_keys (org_id);
