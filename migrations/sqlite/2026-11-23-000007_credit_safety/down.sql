DROP TABLE outflow_hours;
DROP TABLE request_windows;
DROP INDEX installments_uncredited;
ALTER TABLE installments DROP COLUMN on_time_credited;
