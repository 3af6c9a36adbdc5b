#!/usr/bin/env python3
"""Many pollers of one page while ingest runs (used by bench/pollers.sh).

Sends signed Meta webhook deliveries (one text message each, from a few hundred customers of the
bench account) at a fixed rate on one keep-alive connection, while wrk polls one URL with N
connections; prints one JSON object: wrk's requests/s, p50, p99, and the deliveries sent, their
achieved rate and any that were not answered 200.

  pollers.py PORT KEY APP_SECRET PHONE_NUMBER_ID URL CONNECTIONS SECONDS RATE
"""

import hashlib
import hmac
import http.client
import json
import subprocess
import sys
import threading
import time

port, key, secret, pnid, url = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
conns, seconds, rate = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])

stop = threading.Event()
sent = {"ok": 0, "other": 0}


def delivery(n):
    wa_id = f"9715{n % 500:08d}"
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": pnid},
            "contacts": [{"profile": {"name": "Poller bench"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.pollers.{time.time_ns()}.{n}",
                          "timestamp": str(int(time.time())), "type": "text", "text": {"body": f"hello {n}"}}],
        }}]}],
    }
    return json.dumps(body).encode()


def ingest():
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    start = time.monotonic()
    n = 0
    while not stop.is_set():
        due = start + n / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        body = delivery(n)
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        conn.request("POST", "/webhooks/whatsapp", body,
                     {"Content-Type": "application/json", "X-Hub-Signature-256": sig})
        r = conn.getresponse()
        r.read()
        sent["ok" if r.status == 200 else "other"] += 1
        n += 1
    sent["seconds"] = time.monotonic() - start


t = threading.Thread(target=ingest)
t.start()
time.sleep(0.5)  # ingest under way before the pollers start
out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {key}",
                      url], capture_output=True, text=True, check=True).stdout
stop.set()
t.join()


def ms(text):
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * f
    return float(text)


fields = {}
for line in out.splitlines():
    parts = line.split()
    if line.startswith("Requests/sec:"):
        fields["rps"] = float(parts[1])
    elif len(parts) == 2 and parts[0] in ("50%", "99%"):
        fields["p" + parts[0][:-1]] = ms(parts[1])
    elif "Non-2xx" in line:
        fields["non_2xx"] = int(parts[-1])
fields.update(deliveries=sent["ok"], deliveries_not_200=sent["other"],
              delivery_rate=round(sent["ok"] / sent["seconds"], 1))
print(json.dumps(fields))
