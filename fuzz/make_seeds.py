#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/seed-* from the repository's real fixtures.

Run from anywhere: python3 fuzz/make_seeds.py [PATH TO shared/]. Only files named seed-* are
rewritten; inputs kept because they once crashed a target (crash-*) are left alone. The
output is committed, so the fuzz runs need neither Python nor shared/.

Sources:
- tests/fixtures/events/wave/*.json: Wave's published webhook examples (see tests/fixtures/README.md);
- shared/twilio/signature_vectors.json: Twilio's request-validation vectors, computed with
  twilio-python 9.13.0 (MIT licence), four of them from Twilio's documentation;
- host/src/config_tests.rs (the full example) and README.md (the Configuration example);
- tests/support/wave_standin.rs: the GraphQL answers the Wave stand-in gives;
- tests/cases/*/expected.json: the default plugins' actions on the seed payloads.
"""

import base64
import hashlib
import hmac
import json
import re
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
# The wave_signature target's secrets and clock (fuzz_targets/wave_signature.rs).
WAVE_SECRET = b"whsec_fuzz"
WAVE_OLD_SECRET = b"whsec_old"
WAVE_NOW = 1_700_000_000


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


def wave_header(secret, t, body, extra=""):
    tag = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={tag}{extra}"


def wave():
    for path in sorted((ROOT / "tests/fixtures/events/wave").glob("*.json")):
        body = path.read_bytes()
        write("wave_payload", path.stem, body)
        header = wave_header(WAVE_SECRET, WAVE_NOW, body)
        write("wave_signature", path.stem, f"{header}\n".encode() + body)
    body = (ROOT / "tests/fixtures/events/wave/invoice.paid.json").read_bytes()
    rotated = wave_header(WAVE_OLD_SECRET, WAVE_NOW - 299, body)
    write("wave_signature", "old-secret-at-the-tolerance", f"{rotated}\n".encode() + body)
    tag = wave_header(WAVE_SECRET, WAVE_NOW, body).split("v1=")[1]
    spaced = f" v0=abc , v1={'0' * 64}, v1={tag.upper()} ,t={WAVE_NOW}, "
    write("wave_signature", "spaces-unknown-parts-two-v1", f"{spaced}\n".encode() + body)


def form(params):
    pairs = []
    for name, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            pairs.append((name, v))
    return urllib.parse.urlencode(pairs).encode()


def twilio(shared):
    vectors = json.loads((shared / "twilio/signature_vectors.json").read_text())
    for v in vectors:
        if "raw_body" in v:
            body = v["raw_body"].encode()
        else:
            body = form(v["params"])
            write("twilio_form", v["name"], body)
        head = f"{v['auth_token']}\n{v['url']}\n{v['signature']}\n".encode()
        write("twilio_signature", v["name"], head + body)
    callbacks = {
        "message-status-undelivered": {"MessageSid": "SM" + "1" * 32, "MessageStatus": "undelivered", "SmsSid": "SM" + "1" * 32, "SmsStatus": "undelivered", "ErrorCode": "30003"},
        "call-status-completed": {"CallSid": "CA" + "2" * 32, "CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "42"},
        "inbound-stop": {"MessageSid": "SM" + "3" * 32, "AccountSid": "AC" + "4" * 32, "From": "+15555550123", "To": "+15005550006", "Body": "STOP", "NumMedia": "0", "OptOutType": "STOP"},
        "inbound-question": {"MessageSid": "SM" + "5" * 32, "From": "+15555550123", "To": "+15005550006", "Body": "PAID? 👍 & more", "NumMedia": "0"},
    }
    for name, params in callbacks.items():
        write("twilio_form", name, form(params))


def config():
    tests = (ROOT / "host/src/config_tests.rs").read_text()
    full = re.search(r'const FULL: &str = r#"(.*?)"#;', tests, re.S).group(1)
    write("config", "full", full)
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## Configuration.*?```toml\n(.*?)```", readme, re.S).group(1)
    write("config", "readme", example)
    write("config", "empty", "")
    team = '[twilio]\nfrom = "+14155552672"\n[team]\naccounting = "+14155552671"\n'
    write("config", "readme-quickstart", team)
    overrides = "ML_CONNECTOR_TWILIO_MODE=dry-run\nML_CONNECTOR_TWILIO_QUIET_HOURS=21:00-08:00\nML_CONNECTOR_TWILIO_TIMEZONE=-05:00\nML_CONNECTOR_SERVER_MAX_BODY_BYTES=1024\n"
    write("config", "quickstart-with-env", team + "\0" + overrides)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def graphql():
    business = "63c77f29-875c-4cdc-947d-07430f628043"
    customer = {"id": b64(f"Business:{business};Customer:21840161"), "name": "Lucy Smith", "email": "lucy.smith@example.com", "mobile": "(415) 555-2671", "phone": "+44 20 7946 0958"}
    invoice = {
        "id": b64(f"Business:{business};Invoice:2496756670638588934"),
        "invoiceNumber": "0042", "status": "OVERDUE", "dueDate": "2026-04-30",
        "viewUrl": "https://wave.example/invoices/2496756670638588934",
        "total": {"value": "8.98", "currency": {"code": "USD"}},
        "amountDue": {"value": "8.98", "currency": {"code": "USD"}},
    }
    node = {"id": b64(f"Business:{business}"), "name": "Acme Plumbing"}
    answers = {
        "business": {"data": {"business": node}},
        "customer-invoice": {"data": {"business": {**node, "customer": customer, "invoice": invoice}}},
        "not-found": {"data": {"business": {**node, "customer": None, "invoice": None}}, "errors": [
            {"message": "Customer not found", "path": ["business", "customer"], "extensions": {"code": "NOT_FOUND"}},
            {"message": "Invoice not found", "path": ["business", "invoice"], "extensions": {"code": "NOT_FOUND"}}]},
        "no-business": {"data": {"business": None}, "errors": [{"message": "no business", "path": ["business"], "extensions": {"code": "NOT_FOUND"}}]},
        "unauthenticated": {"data": None, "errors": [{"message": "Not authenticated", "extensions": {"code": "UNAUTHENTICATED"}}]},
        "overdue-page": {"data": {"business": {**node, "invoices": {
            "pageInfo": {"currentPage": 1, "totalPages": 2, "totalCount": 51},
            "edges": [{"node": {**invoice, "invoiceDate": "2026-03-01", "customer": {"id": customer["id"]}}}]}}}},
    }
    for name, answer in answers.items():
        write("graphql_response", name, json.dumps(answer))


def actions():
    for path in sorted((ROOT / "tests/cases").glob("*/expected.json")):
        write("plugin_actions", path.parent.name, path.read_bytes())


def main():
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
    wave()
    twilio(shared)
    config()
    graphql()
    actions()


if __name__ == "__main__":
    main()
