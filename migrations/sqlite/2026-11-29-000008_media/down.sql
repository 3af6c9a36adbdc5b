DROP TABLE media_files;
ALTER TABLE messages DROP COLUMN media_state;
