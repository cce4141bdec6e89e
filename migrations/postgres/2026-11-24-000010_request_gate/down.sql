DROP FUNCTION vl_gate(text, bigint, timestamp, bigint);
