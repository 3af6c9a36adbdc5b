DROP TRIGGER events_placed;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
