DROP TABLE events;
DROP SEQUENCE events_pos_seq;
