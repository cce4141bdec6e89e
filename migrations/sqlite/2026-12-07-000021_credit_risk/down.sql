DROP INDEX installments_converted_into;
ALTER TABLE installments DROP COLUMN converted_minor;
ALTER TABLE installments DROP COLUMN converted_into;
ALTER TABLE installments DROP COLUMN on_time_units;
ALTER TABLE installments DROP COLUMN billed_principal_minor;
