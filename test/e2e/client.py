#!/usr/bin/env python3
"""Load client of the rocm-vllm end-to-end test, run inside a simulated host's network namespace.

    client.py --url URL --model NAME [--concurrency N] [--max-tokens N] [--stop-file PATH | --seconds S]
              [--prefix ID] [--header K:V]... [--watch URL]...

Sends completion requests through URL (a balancer) from N threads until the stop file exists (or S seconds passed),
each with a unique X-Request-Id, a new connection per request, and records every request: id, start, end, HTTP status
or error, and the X-Standin-Server that answered. With --watch, a monitor thread asks each watched instance directly
for /v1/models every 0.2 s and records which answered. Prints one JSON object on stdout when done:
{"requests": [...], "samples": [{"t": ..., "up": [urls]}]}.
"""

import argparse
import json
import os
import threading
import time
import urllib.error
import urllib.request


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--stop-file")
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--prefix", default="r")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--watch", action="append", default=[])
    a = p.parse_args()
    headers = {"Content-Type": "application/json"}
    for h in a.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    body = json.dumps({"model": a.model, "prompt": "Say hello.", "max_tokens": a.max_tokens}).encode()
    started = time.time()
    lock = threading.Lock()
    records: list[dict] = []
    samples: list[dict] = []
    counter = [0]

    def done() -> bool:
        if a.stop_file and os.path.exists(a.stop_file):
            return True
        return bool(a.seconds) and time.time() - started >= a.seconds

    def worker() -> None:
        while not done():
            with lock:
                counter[0] += 1
                rid = f"{a.prefix}-{counter[0]}"
            req = urllib.request.Request(a.url + "/v1/completions", data=body, headers={**headers, "X-Request-Id": rid})
            rec = {"id": rid, "start": time.time()}
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    text = r.read().decode()
                    rec["status"] = r.status
                    rec["ok"] = r.status == 200 and '"choices"' in text
                    rec["server"] = r.headers.get("X-Standin-Server")
            except urllib.error.HTTPError as e:
                rec["status"] = e.code
                rec["ok"] = False
                rec["error"] = e.read().decode(errors="replace")[:200]
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                rec["status"] = None
                rec["ok"] = False
                rec["error"] = repr(e)[:200]
            rec["end"] = time.time()
            with lock:
                records.append(rec)

    def monitor() -> None:
        while not done():
            up = []
            for url in a.watch:
                try:
                    with urllib.request.urlopen(url + "/v1/models", timeout=1) as r:
                        if r.status == 200:
                            up.append(url)
                except Exception:  # noqa: BLE001 - down is what is recorded
                    pass
            samples.append({"t": time.time(), "up": up})
            time.sleep(0.2)

    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    if a.watch:
        threads.append(threading.Thread(target=monitor))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"requests": records, "samples": samples}))


if __name__ == "__main__":
    main()
