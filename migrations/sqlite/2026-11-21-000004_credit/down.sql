DROP TABLE installments;
DROP TABLE purchases;
DROP TABLE merchants;
