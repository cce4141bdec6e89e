DROP TABLE staff_recovery_codes;
DROP TABLE staff_totp;
DROP TABLE console_sessions;

UPDATE users SET role = 'admin' WHERE role IN ('support', 'operations', 'credit');
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'admin'));
