-- Group commit at the SQL floor: one call of vl_batch with 8 transfers of 8 neighbouring
-- senders (each with its gate), as a group-commit lane sends it. bench.sh runs it with as
-- many clients as the service has lanes and counts transfers (8 per transaction).
\set a random(1, 192)
SELECT count(*) FROM vl_batch(
  array_fill('transfer'::text, ARRAY[8]),
  ARRAY(SELECT 'u' || lpad((:a::bigint + g)::text, 35, '0') FROM generate_series(0, 7) g),
  ARRAY(SELECT md5(random()::text) FROM generate_series(1, 8)),
  array_fill('abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd'::text, ARRAY[8]),
  ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, 8)),
  ARRAY(SELECT gen_random_uuid()::text FROM generate_series(1, 8)),
  ARRAY(SELECT (1 + floor(random() * 5000))::bigint FROM generate_series(1, 8)),
  ARRAY(SELECT 'user_' || (1 + (:a::bigint + g + 1 + floor(random() * 190)::int) % 200) FROM generate_series(0, 7) g),
  array_fill(NULL::text, ARRAY[8]),
  array_fill(now()::timestamp, ARRAY[8]),
  NULL::bigint, NULL::int,
  array_fill(0::bigint, ARRAY[8]),
  array_fill(date_trunc('minute', now())::timestamp, ARRAY[8]),
  array_fill(1000000000::bigint, ARRAY[8]));
