DELETE FROM merchants WHERE system;
ALTER TABLE merchants DROP COLUMN system;
DROP TABLE autopay;
DROP TABLE refunds;
ALTER TABLE purchases DROP COLUMN auto_confirmed;
ALTER TABLE purchases DROP COLUMN refunded_minor;
