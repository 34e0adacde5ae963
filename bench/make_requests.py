#!/usr/bin/env python3
"""Prepares the request files that bench/requests.lua replays: one request per line,
"METHOD<TAB>PATH<TAB>SIGNATURE-or-'-'<TAB>BODY". v3 bodies are signed ahead of the run
(Payload-Signature = lower-case hex HMAC-SHA256 of the exact body with the merchant's secret key).

  make_requests.py v3-create  OUT COUNT PREFIX LOGIN PASS SECRET
  make_requests.py v3-cancel  OUT IDS_FILE LOGIN PASS SECRET     (IDS_FILE: "cashout_id|external_id")
  make_requests.py v3-status  OUT IDS_FILE LOGIN PASS SECRET
  make_requests.py v1-create  OUT COUNT PREFIX WALLET_ID
  make_requests.py v1-cancel  OUT IDS_FILE                        (IDS_FILE: "pyt_..." per line)
  make_requests.py get        OUT PATH
"""
import hashlib
import hmac
import json
import sys


def sign(secret, body):
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def v3_create_body(login, password, external_id, i):
    cents = 1000 + (i * 7919) % 9000  # 10.00 .. 99.99
    return dumps({"login": login, "pass": password, "external_id": external_id, "country": "BR",
                  "currency": "BRL", "amount": f"{cents // 100}.{cents % 100:02d}",
                  "document_id": "84868168029", "document_type": "CPF",
                  "beneficiary_name": "Maria", "beneficiary_lastname": "Silva",
                  "email": "maria.silva@example.com", "bank_code": "001",
                  "bank_account": "123456789", "bank_branch": "0001", "account_type": "C",
                  "notification_url": "https://merchant.example/notify", "type": "json"})


def read_ids(path):
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]


def main(argv):
    kind, out = argv[1], argv[2]
    lines = []
    if kind == "v3-create":
        count, prefix, login, password, secret = int(argv[3]), argv[4], argv[5], argv[6], argv[7]
        for i in range(count):
            body = v3_create_body(login, password, f"{prefix}{i}", i)
            lines.append(("POST", "/v3/cashout", sign(secret, body), body))
    elif kind in ("v3-cancel", "v3-status"):
        ids, login, password, secret = read_ids(argv[3]), argv[4], argv[5], argv[6]
        for row in ids:
            cashout_id, _, external_id = row.partition("|")
            if kind == "v3-cancel":
                body = dumps({"login": login, "pass": password, "cashout_id": int(cashout_id),
                              "external_id": external_id})
                lines.append(("DELETE", "/v3/cashout/cancel", sign(secret, body), body))
            else:
                body = dumps({"login": login, "pass": password, "cashout_id": int(cashout_id)})
                lines.append(("POST", "/v3/cashout/status", sign(secret, body), body))
    elif kind == "v1-create":
        count, prefix, wallet = int(argv[3]), argv[4], int(argv[5])
        for i in range(count):
            cents = 100 + (i * 7919) % 9900
            body = dumps({"reference_id": f"{prefix}{i}", "wallet_id": wallet,
                          "amount": f"{cents // 100}.{cents % 100:02d}", "currency": "USD",
                          "beneficiary": {"email": f"user{i % 977}@example.com",
                                          "first_name": "John", "last_name": "Doe",
                                          "country": "US"},
                          "description": "Bonus Payment"})
            lines.append(("POST", "/api/v1/payouts", "-", body))
    elif kind == "v1-cancel":
        for public_id in read_ids(argv[3]):
            lines.append(("POST", f"/api/v1/payouts/{public_id}/cancel", "-", ""))
    elif kind == "get":
        lines.append(("GET", argv[3], "-", ""))
    else:
        sys.exit(f"unknown kind {kind}")
    with open(out, "w", encoding="utf-8") as handle:
        for method, path, signature, body in lines:
            assert "\t" not in body and "\n" not in body
            handle.write(f"{method}\t{path}\t{signature}\t{body}\n")


if __name__ == "__main__":
    main(sys.argv)
