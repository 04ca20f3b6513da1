#!/usr/bin/env bash
# The benchmark suite: s3bench next to fio (http engine, S3 mode), awscrt's S3
# client and wrk + nginx (the unsigned raw-HTTP ceiling), against the same
# local servers, and the criterion hot-path benches. Writes bench/RESULTS.md.
#
#   bench/run.sh            # about 20 minutes on 2 cores
#   DURATION=3 LONG_S=30 bench/run.sh   # a quick pass (numbers too noisy to keep)
#   ONLY=checksums bench/run.sh         # only the checksum section (~15 min)
#   ONLY=metrics bench/run.sh           # only the live-metrics section (~5 min)
#   ONLY=oplog bench/run.sh             # only the op-log section (~7 min)
#
# Method: one `s3bench serve` process (1 thread, pinned to core 0) is the
# endpoint for every S3 client; each client runs as its own process pinned to
# core 1, so the CPU per request it is charged is its own, not the server's
# (see bench/lib/suite.py). The script installs what is missing when run as
# root: nginx, wrk, curl, Python's awscrt and s3dlio (optional), and fio rebuilt from
# Debian's source with its http engine (Debian's binary package lacks it),
# built under bench/.cache/ (gitignored). Not part of the test suite: CI does
# not run it.
#
# Environment: DURATION (s per measurement, 10), LONG_S (RSS run, 660: RSS at
# 600 s against RSS at 60 s),
# SKIP_C10K=1, SKIP_CRITERION=1, CHECKSUM_REPEAT (3) and CHECKSUM_S (5):
# the upload-checksum section's rounds and seconds per run, METRICS_REPEAT (5)
# and METRICS_S (5) the live-metrics section's, S3BENCH (use this binary instead of
# building), WORK (scratch dir, /tmp/s3bench-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/bench/.cache
export WORK=${WORK:-/tmp/s3bench-bench}
mkdir -p "$CACHE" "$WORK"

say() { echo "[bench] $*" >&2; }

apt_updated=0
apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        say "missing: $*; install it (not root or no apt-get here)"
        return 1
    fi
    if [ $apt_updated = 0 ]; then
        apt-get update -q >/dev/null
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# The s3bench under test: a private copy, so another build in a shared
# target dir cannot swap it mid-run.
build_s3bench() {
    if [ -z "${S3BENCH:-}" ]; then
        cargo build --release --bin s3bench
        cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/s3bench" "$WORK/s3bench"
        export S3BENCH=$WORK/s3bench
    fi
}

# 4 KiB PUTs with each [client] checksum on both request paths; rewrites
# that section of RESULTS.md only.
if [ "${ONLY:-}" = checksums ]; then
    build_s3bench
    if [ "${SKIP_CRITERION:-0}" != 1 ]; then
        cargo bench --bench hot_path -- checksum_ --noplot 2>&1 | tee "$WORK/criterion-checksum.txt" >&2
        export CRITERION=$WORK/criterion-checksum.txt
    fi
    exec python3 "$ROOT/bench/lib/suite.py" checksums
fi

# Live metrics (--metrics-listen) on and off: criterion's record_sample with
# and without live counters, and 4 KiB GETs end to end; rewrites that
# section of RESULTS.md only.
if [ "${ONLY:-}" = metrics ]; then
    build_s3bench
    if [ "${SKIP_CRITERION:-0}" != 1 ]; then
        cargo bench --bench hot_path -- 'record_sample|metrics_scrape' --noplot 2>&1 | tee "$WORK/criterion-metrics.txt" >&2
        export CRITERION=$WORK/criterion-metrics.txt
    fi
    exec python3 "$ROOT/bench/lib/suite.py" metrics
fi

# 4 KiB GETs without and with `run --op-log`, and a long run with it;
# rewrites that section of RESULTS.md only (OPLOG_REPEAT, OPLOG_S, OPLOG_LONG_S).
if [ "${ONLY:-}" = oplog ]; then
    build_s3bench
    if [ "${SKIP_CRITERION:-0}" != 1 ]; then
        cargo bench --bench hot_path -- oplog_ --noplot 2>&1 | tee "$WORK/criterion-oplog.txt" >&2
        export CRITERION=$WORK/criterion-oplog.txt
    fi
    exec python3 "$ROOT/bench/lib/suite.py" oplog
fi

for tool in curl taskset python3; do
    command -v $tool >/dev/null || { say "$tool is required"; exit 2; }
done
command -v nginx >/dev/null || apt_install nginx || true
command -v wrk >/dev/null || apt_install wrk || true
python3 -c 'import awscrt.s3' 2>/dev/null ||
    python3 -m pip install -q awscrt >/dev/null 2>&1 ||
    say "awscrt not installable: skipped"
# s3dlio (MLPerf Storage's object library), pinned: suite.py's S3DLIO_VERSION.
S3DLIO_VERSION=$(sed -n 's/^S3DLIO_VERSION = "\(.*\)"$/\1/p' bench/lib/suite.py)
python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('s3dlio') != '$S3DLIO_VERSION')" 2>/dev/null ||
    python3 -m pip install -q "s3dlio==$S3DLIO_VERSION" >/dev/null 2>&1 ||
    say "s3dlio $S3DLIO_VERSION not installable: skipped"

# fio with the http engine: the system's if it has one, else built from
# Debian's source package.
has_http() { "$1" --enghelp=http >/dev/null 2>&1; }
build_fio() {
    apt_install libcurl4-openssl-dev libssl-dev zlib1g-dev libaio-dev pkg-config dpkg-dev make gcc || return 1
    if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
                >/etc/apt/sources.list.d/s3bench-deb-src.sources
        else
            sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/s3bench-deb-src.list
        fi
        apt-get update -q >/dev/null
    fi
    rm -rf "$CACHE/fio-src" && mkdir -p "$CACHE/fio-src"
    (cd "$CACHE/fio-src" && apt-get source -q fio >/dev/null 2>&1) || return 1
    local src
    src=$(find "$CACHE/fio-src" -mindepth 1 -maxdepth 1 -type d -name 'fio-*' | head -1)
    (cd "$src" && ./configure >"$CACHE/fio-configure.log" 2>&1 && make -j"$(nproc)" >"$CACHE/fio-make.log" 2>&1) || return 1
    mkdir -p "$CACHE/fio" && cp "$src/fio" "$CACHE/fio/fio"
    has_http "$CACHE/fio/fio"
}
FIO=""
if command -v fio >/dev/null && has_http "$(command -v fio)"; then
    FIO=$(command -v fio)
elif [ -x "$CACHE/fio/fio" ] && has_http "$CACHE/fio/fio"; then
    FIO=$CACHE/fio/fio
else
    say "building fio with the http engine under bench/.cache (about a minute)"
    if build_fio; then
        FIO=$CACHE/fio/fio
    else
        say "could not build fio with the http engine (logs in bench/.cache): fio skipped"
    fi
fi
export FIO

build_s3bench

if [ "${SKIP_CRITERION:-0}" != 1 ]; then
    say "cargo bench --bench hot_path"
    cargo bench --bench hot_path -- --noplot 2>&1 | tee "$WORK/criterion.txt" >&2
    export CRITERION=$WORK/criterion.txt
fi

# 10,000 connections in the client and as many in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10240 ]; then
    say "ulimit -n is $(ulimit -n): the 10,000-in-flight run needs more than 10,240; raise the hard limit"
fi

exec python3 "$ROOT/bench/lib/suite.py"
