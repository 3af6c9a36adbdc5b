ALTER TABLE dispatch_jobs DROP COLUMN upload_id;
DROP TABLE uploads;
