-- Files a client uploads to send (kirim's POST /v1/{phone_number_id}/media, wacrm's and envelope's
-- media routes): kept in the blob store under their sha256, named by a Rosetta id scoped to the
-- organization. Meta's id for the file, once the dispatcher uploaded it through an account (Meta
-- keeps an uploaded file 30 days), is remembered so one file sent often is uploaded once.
CREATE TABLE uploads (
    id BYTEA PRIMARY KEY NOT NULL,
    org_id BYTEA NOT NULL REFERENCES organizations (id),
    -- The number it was uploaded for (kirim's path names one); null for the others.
    account_id BYTEA REFERENCES whatsapp_accounts (id),
    blob TEXT NOT NULL,
    size BIGINT NOT NULL,
    mime_type TEXT NOT NULL,
    filename TEXT,
    meta_account_id BYTEA,
    meta_media_id TEXT,
    meta_uploaded_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX uploads_created ON uploads (created_at);
CREATE INDEX uploads_blob ON uploads (blob);

-- A send of an uploaded file names it: the dispatcher uploads it to Meta (or reuses Meta's id) and
-- sends by id. Not a foreign key: an upload pruned before its send leaves the message's own copy.
ALTER TABLE dispatch_jobs ADD COLUMN upload_id BYTEA;
