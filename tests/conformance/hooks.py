"""schemathesis hooks for Vaultline's conformance run (loaded through SCHEMATHESIS_HOOKS).

`valid_input_is_never_called_malformed`: a request generated from the schema (positive
mode) must never be refused as malformed. Business refusals (422 with codes such as
insufficient_funds) are fine; a validation refusal means the schema promises less than the
server enforces.
"""

import uuid

import schemathesis

# Two password rules no schema can state: a new password must not contain the username (a rule
# across two fields) and must not be on the bundled breach list (compared case-insensitively).
# The document says so in the password's description; these refusals are expected.
PASSWORD_POLICY_DETAILS = ("must not contain the username", "lists of breached passwords")
# A webhook URL must parse as a URL with a host, carry no credentials or fragment, and name a
# host that resolves to public addresses only: rules about the target, not the text's shape
# (the `url` description says so). Every such refusal's detail starts with "url".
WEBHOOK_TARGET_PREFIX = "url"

MALFORMED_CODES = {
    "validation_error",
    "invalid_amount",
    "idempotency_key_required",
    "payload_too_large",
    "unsupported_media_type",
}


def _is_positive(case):
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None) if meta is not None else None
    mode = getattr(generation, "mode", None)
    return mode is not None and mode.is_positive


@schemathesis.check
def valid_input_is_never_called_malformed(ctx, response, case):
    if not _is_positive(case):
        return None
    if response.status_code in (400, 413, 415):
        raise AssertionError(f"schema-valid request refused with {response.status_code}: {response.text[:300]}")
    if response.status_code == 422:
        try:
            code = response.json().get("code")
        except ValueError:
            code = None
        detail = response.json().get("detail", "") if code else ""
        if code == "validation_error" and any(p in detail for p in PASSWORD_POLICY_DETAILS):
            return None
        if code == "validation_error" and "/v1/admin/webhooks" in case.path and detail.startswith(WEBHOOK_TARGET_PREFIX):
            return None
        if code in MALFORMED_CODES:
            raise AssertionError(f"schema-valid request refused as {code}: {response.text[:300]}")
    return None


KEY_HEADER = "Idempotency-Key"


@schemathesis.hook
def before_call(context, case, kwargs):
    """Give every schema-valid request its own Idempotency-Key.

    Hypothesis draws keys from a small space ("0", "00", ...), so most money requests would
    replay an earlier key with another body and get 422 idempotency_key_reused: a correct
    answer, but one that keeps the fuzzer away from the money rules. A unique suffix keeps the
    key valid and lets each request reach them. Key reuse itself is tested by the API tests.
    Invalid keys (negative cases) are sent unchanged.
    """
    if not _is_positive(case):
        return
    headers = case.headers or {}
    key = headers.get(KEY_HEADER)
    if isinstance(key, str) and 0 < len(key) <= 200 and not key.endswith(" "):
        headers[KEY_HEADER] = f"{key}-{uuid.uuid4().hex[:16]}"
