DROP TABLE credit_requests;
