#!/usr/bin/env python3
"""Records a purchase with openapi-operations from Python, with nothing but the standard library,
and retries it safely.

    export API=... RECEIVING_KEY=... LEAD_ID=...   # what `deno task start` prints
    python3 examples/client.py ORDER_ID AMOUNT     # e.g. python3 examples/client.py 7731 249.99

The Idempotency-Key is derived from your own order id, so the same order is recorded once however
often this runs or retries: a retry after a timeout, a dropped connection, a 5xx or a 503 sends the
same key and gets the stored answer back (Idempotent-Replayed: true) instead of a second purchase.
A 503 says when to come back in Retry-After. Any other 4xx is final: retrying cannot fix it.
Amounts are read as Decimal, so no float rounds money.
"""

import decimal
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request

MAX_ATTEMPTS = 5
TIMEOUT_SECONDS = 10


def call(api, key, body, idempotency_key=None):
    """One POST; returns (status, headers, parsed body). Raises OSError/HTTPException on a network failure."""
    headers = {"Content-Type": "application/json", "X-Api-Key": key}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(api, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status, answer_headers, text = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # a 4xx or 5xx answer: still an answer
        status, answer_headers, text = error.code, error.headers, error.read()
    return status, answer_headers, json.loads(text, parse_float=decimal.Decimal)


def create_purchase(api, key, lead_id, order_id, amount):
    """create_purchase, retried with the same Idempotency-Key until it is answered for good."""
    body = {"action": "create_purchase", "lead_id": lead_id, "purchase_amount": amount,
            "description": f"Order {order_id}"}
    idempotency_key = f"purchase-{order_id}"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            status, headers, answer = call(api, key, body, idempotency_key)
        except (OSError, http.client.HTTPException, ValueError) as error:
            # No answer, or half of one: the purchase may or may not have been written. The retry with the
            # same key finds out without writing it twice.
            delay = 0.5 * 2 ** (attempt - 1)
            print(f"attempt {attempt}: no answer ({type(error).__name__}), retrying in {delay:g} s")
            time.sleep(delay)
            continue
        if status == 200:
            replayed = headers.get("Idempotent-Replayed") == "true"
            print(f"attempt {attempt}: HTTP 200{' (replayed)' if replayed else ''}")
            return answer
        if status == 503 or status == 429 or status >= 500:
            delay = int(headers.get("Retry-After") or 2 ** (attempt - 1))
            print(f"attempt {attempt}: HTTP {status} {answer.get('error')}, retrying in {delay} s")
            time.sleep(delay)
            continue
        raise RuntimeError(f"HTTP {status} {answer.get('code')}: {answer.get('error')} "
                           f"(request_id {answer.get('request_id')})")
    raise RuntimeError(f"no answer after {MAX_ATTEMPTS} attempts; run again later: the same order id is safe")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python3 examples/client.py ORDER_ID AMOUNT   (env: API, RECEIVING_KEY, LEAD_ID)")
    order_id, amount = sys.argv[1], sys.argv[2]
    try:
        answer = create_purchase(os.environ["API"], os.environ["RECEIVING_KEY"], os.environ["LEAD_ID"],
                                 order_id, amount)
    except RuntimeError as error:
        sys.exit(f"error: {error}")
    purchase = answer["purchase"]
    rewards = ", ".join(f"{r['reward_type']} {r['amount']} {r['currency']} {r['status']}"
                        for r in answer["reward_events"])
    print(f"purchase {purchase['id']}: {purchase['purchase_amount']} ({purchase['description']}); "
          f"rewards: {rewards or 'none'}")


if __name__ == "__main__":
    main()
