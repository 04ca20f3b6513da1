"""Closed-loop GET load with awscrt's S3 client (aws-c-s3), for bench/run.sh.

Keeps CONCURRENCY GetObject requests in flight for DURATION seconds against a
plain-HTTP endpoint (path-style, SigV4 with static keys) and prints one JSON
line: ops, errors, elapsed_s, p50_us, p99_us (latency measured from
make_request to on_done, as this client exposes nothing finer).

usage: awscrt_get.py HOST:PORT BUCKET KEYS_FILE CONCURRENCY DURATION_S
(keys, one per line; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
"""

import json
import os
import random
import sys
import threading
import time

from awscrt import auth, http, io, s3


def main():
    host, bucket, keys_file, conc, duration = sys.argv[1:6]
    conc, duration = int(conc), float(duration)
    keys = [k.strip() for k in open(keys_file) if k.strip()]
    elg = io.EventLoopGroup(1)
    resolver = io.DefaultHostResolver(elg)
    bootstrap = io.ClientBootstrap(elg, resolver)
    creds = auth.AwsCredentialsProvider.new_static(
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    )
    client = s3.S3Client(
        bootstrap=bootstrap,
        region="us-east-1",
        tls_mode=s3.S3RequestTlsMode.DISABLED,
        credential_provider=creds,
        max_active_connections_override=conc,
        # Small objects: never split a GET into ranged parts.
        part_size=8 * 1024 * 1024,
    )
    lock = threading.Lock()
    lat_ns = []
    state = {"errors": 0, "in_flight": 0, "stop": False}
    all_done = threading.Event()
    live = set()
    rng = random.Random(1)

    def issue():
        key = keys[rng.randrange(len(keys))]
        req = http.HttpRequest(
            "GET", f"/{bucket}/{key}", http.HttpHeaders([("Host", host)])
        )
        t0 = time.perf_counter_ns()
        holder = {}

        def on_done(error=None, status_code=None, **_):
            t1 = time.perf_counter_ns()
            again = False
            with lock:
                live.discard(holder.get("r"))
                if error is not None or (status_code or 200) >= 300:
                    state["errors"] += 1
                else:
                    lat_ns.append(t1 - t0)
                if state["stop"]:
                    state["in_flight"] -= 1
                    if state["in_flight"] == 0:
                        all_done.set()
                else:
                    again = True
            if again:
                issue()

        r = client.make_request(
            type=s3.S3RequestType.GET_OBJECT,
            request=req,
            on_body=lambda chunk, offset, **_: None,
            on_done=on_done,
        )
        holder["r"] = r
        with lock:
            live.add(r)

    start = time.monotonic()
    with lock:
        state["in_flight"] = conc
    for _ in range(conc):
        issue()
    time.sleep(duration)
    with lock:
        state["stop"] = True
        n = len(lat_ns)
    elapsed = time.monotonic() - start
    all_done.wait(30)
    lat_ns.sort()

    def pct(p):
        return lat_ns[min(len(lat_ns) - 1, int(p / 100 * len(lat_ns)))] / 1000 if lat_ns else 0

    print(json.dumps({
        "ops": n,
        "errors": state["errors"],
        "elapsed_s": elapsed,
        "p50_us": pct(50),
        "p99_us": pct(99),
    }))


if __name__ == "__main__":
    main()
