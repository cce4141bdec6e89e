"""schemathesis hooks for Vaultline's conformance run (loaded through SCHEMATHESIS_HOOKS).

`valid_input_is_never_called_malformed`: a request generated from the schema (positive
mode) must never be refused as malformed. Business refusals (422 with codes such as
insufficient_funds) are fine; a validation refusal means the schema promises less than the
server enforces.
"""

import schemathesis

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
        if code in MALFORMED_CODES:
            raise AssertionError(f"schema-valid request refused as {code}: {response.text[:300]}")
    return None
