DROP TABLE installment_reminders;
DROP TABLE statement_entries;
DROP TABLE statements;
