#!/usr/bin/env python3
"""A webhook receiver that verifies Vaultline's signatures, with the standard library only.

    VAULTLINE_WEBHOOK_SECRET=whsec_... python3 scripts/webhook_receiver.py --port 9000

Vaultline POSTs one event per delivery with the header

    Vaultline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>

This answers 204 to a delivery whose signature matches and whose time is within five minutes
of now (an older one may be a replay), and prints the event as one line of JSON. Anything else
gets 400. Deliveries come at least once: a repeat carries the same event "id" and is
acknowledged without being handled twice (a real receiver keeps the ids it handled in its
database, in the transaction that handles the event).
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import time

TOLERANCE_SECS = 300
MAX_BODY_BYTES = 1_000_000


def verify(secret: str, header: str, body: bytes, now: float) -> bool:
    """True if one v1 signature of the header matches and its time is fresh."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    t = next((value for key, value in fields if key == "t"), None)
    if t is None or not t.isdigit() or abs(now - int(t)) > TOLERANCE_SECS:
        return False
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in fields if key == "v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", default=os.environ.get("VAULTLINE_WEBHOOK_SECRET", ""))
    args = parser.parse_args()
    if not args.secret:
        parser.error("give the endpoint's secret with --secret or VAULTLINE_WEBHOOK_SECRET")
    handled = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if 0 < length <= MAX_BODY_BYTES else b""
            signature = self.headers.get("vaultline-signature", "")
            if not body or not verify(args.secret, signature, body, time.time()):
                self.send_response(400)
                self.end_headers()
                return
            event = json.loads(body)
            if event["id"] not in handled:
                handled.add(event["id"])
                print(json.dumps(event), flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
