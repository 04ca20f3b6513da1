"""Closed-loop GET load with s3dlio's `get_many_stats`, for bench/run.sh.

s3dlio (PyPI `s3dlio`: a Rust/Tokio core on aws-sdk-s3 with Python
bindings; MLPerf Storage's default object library) fetches a list of URIs
with up to MAX_IN_FLIGHT requests at once and returns (objects, bytes).
This calls it in batches of BATCH URIs (the keys repeated) until DURATION
seconds have passed and prints one JSON line: ops, errors, bytes,
elapsed_s. s3dlio reports no per-request latency, so there are no
percentiles; a batch's tail (its last requests, fewer than MAX_IN_FLIGHT in
flight) is part of the measured time, as it is for a training job's batch.

usage: s3dlio_get.py ENDPOINT_URL BUCKET KEYS_FILE MAX_IN_FLIGHT DURATION_S [BATCH]
(credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region from
AWS_REGION)
"""

import json
import os
import sys
import time

import s3dlio


def main():
    endpoint, bucket, keys_file, conc, duration = sys.argv[1:6]
    conc, duration = int(conc), float(duration)
    keys = [k.strip() for k in open(keys_file) if k.strip()]
    batch = int(sys.argv[6]) if len(sys.argv) > 6 else max(64 * conc, 256)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    # Process-wide, before the first request.
    s3dlio.configure_s3(endpoint_url=endpoint, region=os.environ.get("AWS_REGION", "us-east-1"))
    uris = [f"s3://{bucket}/{keys[i % len(keys)]}" for i in range(batch)]
    ops = errors = nbytes = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duration:
        try:
            n, b = s3dlio.get_many_stats(uris, max_in_flight=conc)
            ops += n
            nbytes += b
        except Exception as e:  # one failed GET fails the batch
            errors += len(uris)
            print(f"get_many_stats: {e}", file=sys.stderr)
            if errors > 10 * len(uris):
                break
    elapsed = time.perf_counter() - t0
    print(json.dumps(dict(ops=ops, errors=errors, bytes=nbytes, elapsed_s=elapsed, batch=batch)))


if __name__ == "__main__":
    main()
