-- Media a customer sends is fetched from Meta as it arrives and kept in the blob store,
-- content-addressed by sha256. On the message, what became of its file (pending, stored, failed,
-- pruned); the file itself, and its durable fetch job, in media_files, written in the transaction
-- that stores the message.
ALTER TABLE messages ADD COLUMN media_state TEXT;

-- job: queued (due at due_at), claimed (a worker holds it until due_at), done, failed.
CREATE TABLE media_files (
    message_id BLOB PRIMARY KEY NOT NULL REFERENCES messages (id),
    org_id BLOB NOT NULL REFERENCES organizations (id),
    account_id BLOB NOT NULL REFERENCES whatsapp_accounts (id),
    media_id TEXT NOT NULL,
    -- The checksum Meta declared in the webhook (base64 or hex of the sha256).
    declared_sha256 TEXT,
    mime_type TEXT,
    -- The stored file: its sha256 (hex, its address in the blob store) and size.
    blob TEXT,
    size BIGINT,
    -- Why the fetch failed for good.
    error TEXT,
    job TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX media_files_due ON media_files (job, due_at);
CREATE INDEX media_files_blob ON media_files (blob);
