\set a random(1, 200)
\set b 1 + (:a + random(0, 198)) % 200
\set amt random(1, 5000)
SELECT * FROM vl_transfer(vl_gate('u' || lpad((:a::bigint)::text, 35, '0'), 0, date_trunc('minute', now())::timestamp, 1000000000), md5(random()::text), 'abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd', gen_random_uuid()::text, 'user_' || (:b::bigint), :amt::bigint, NULL, now()::timestamp, NULL);
