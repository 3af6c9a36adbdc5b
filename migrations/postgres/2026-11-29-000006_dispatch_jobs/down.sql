DROP TABLE dispatch_jobs;
