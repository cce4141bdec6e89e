DROP TABLE audit_log;
DROP TABLE limit_history;
