DROP TABLE staff_recovery_codes;
DROP TABLE staff_totp;
DROP TABLE console_sessions;

UPDATE users SET role = 'admin' WHERE role IN ('support', 'operations', 'credit');
PRAGMA writable_schema = ON;
UPDATE sqlite_master
SET sql = replace(sql, 'CHECK (role IN (''user'', ''support'', ''operations'', ''credit'', ''admin''))',
                  'CHECK (role IN (''user'', ''admin''))')
WHERE type = 'table' AND name = 'users';
PRAGMA writable_schema = RESET;
