-- The checks every money request passes before its money moves, inside the money call
-- itself, so a money request on PostgreSQL is one round trip again (issue 10). The service
-- passes `vl_gate(user, ...)` as the user argument of the money function: arguments are
-- evaluated before the call, so the gate runs first, in the same statement and transaction.
--  * the access token's version must still be the user's (log out everywhere, a password
--    change, a freeze end every token at once): refused as `session_ended`;
--  * one more request is counted in the user's budget window: past the budget, refused as
--    `rate_limited` with the count in DETAIL.
-- A NULL version or budget skips that check (checked before the call, or switched off).
-- A refusal rolls the count back with everything else; the service counts a refused
-- request by a second statement (a refusal may take a second round trip).
CREATE FUNCTION vl_gate(p_user text, p_token_version bigint, p_window timestamp, p_budget bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE v_requests bigint;
BEGIN
    IF p_token_version IS NOT NULL THEN
        PERFORM 1 FROM users WHERE id = p_user AND token_version = p_token_version;
        IF NOT FOUND THEN
            PERFORM vl_refuse('session_ended');
        END IF;
    END IF;
    IF p_budget IS NOT NULL THEN
        INSERT INTO request_windows (user_id, window_start, requests) VALUES (p_user, p_window, 1)
        ON CONFLICT (user_id, window_start) DO UPDATE SET requests = request_windows.requests + 1
        RETURNING requests INTO v_requests;
        IF v_requests > p_budget THEN
            PERFORM vl_refuse('rate_limited', v_requests::text);
        END IF;
    END IF;
    RETURN p_user;
END $$;
