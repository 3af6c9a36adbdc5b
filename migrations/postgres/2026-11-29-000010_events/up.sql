-- Events out (the transactional outbox): one row per change a product announces (a message
-- received, created, its status moved; a conversation created, closed, reopened, assigned; a contact
-- created, updated), written in the transaction that made the change, whichever path made it.
-- Webhook deliveries and live streams read it in pos order: seq is the insert order, which under
-- concurrent writers (PostgreSQL) is not the commit order; pos is given by the one sequencer after
-- commit (Store::sequence_events), in an order no later commit can precede, so a reader that has
-- read up to a pos never misses a row that becomes visible later.
CREATE SEQUENCE events_pos_seq;
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    -- The public id (a ULID): kirim's evt_, wacrm's dedupe id.
    id BYTEA NOT NULL UNIQUE,
    org_id BYTEA NOT NULL REFERENCES organizations (id),
    kind TEXT NOT NULL,
    account_id BYTEA,
    conversation_id BYTEA,
    message_id BYTEA,
    contact_id BYTEA,
    -- A snapshot of what the renderers need, taken with the change (JSON).
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    pos BIGINT
);
CREATE UNIQUE INDEX events_pos ON events (pos);
CREATE INDEX events_org_pos ON events (org_id, pos);
CREATE INDEX events_unsequenced ON events (seq) WHERE pos IS NULL;
CREATE INDEX events_created ON events (created_at);
