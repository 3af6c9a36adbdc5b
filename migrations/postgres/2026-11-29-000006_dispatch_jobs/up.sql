-- The outbox: one dispatch job per outbound message, written in the send's own transaction.
-- state: queued (due at due_at), claimed (a worker holds it until due_at), done, failed.
CREATE TABLE dispatch_jobs (
    message_id BYTEA PRIMARY KEY NOT NULL REFERENCES messages (id),
    org_id BYTEA NOT NULL REFERENCES organizations (id),
    account_id BYTEA NOT NULL REFERENCES whatsapp_accounts (id),
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dispatch_jobs_due ON dispatch_jobs (state, due_at);
