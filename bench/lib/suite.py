#!/usr/bin/env python3
"""The measurements of bench/run.sh (which builds the tools and calls this).

Every client runs as its own process pinned to one core (core 1), the server
it loads as another process pinned to the other core (core 0), so the CPU a
client spends per request is read from the client process alone: wait4()'s
rusage for fio, wrk, curl and awscrt, and s3bench's own getrusage over its
measured phases (its whole-process figure would also count writing and
deleting the data set). Latency percentiles are each tool's own.

Configuration (environment): S3BENCH, FIO (empty: skip), WORK, DURATION
(seconds per measurement), LONG_S (the RSS run), SKIP_C10K=1, CRITERION
(a file with `cargo bench --bench hot_path` output, optional).

`suite.py metrics` runs only the live-metrics section (criterion's
record_sample with and without live counters, and 4 KiB GETs with
--metrics-listen off and on, interleaved) and rewrites that section of
RESULTS.md in place.

`suite.py checksums` runs only the checksum section (4 KiB and 1 MiB PUTs
and 1 MiB GETs with each `[client] checksum`, both request paths) and
rewrites that section of
RESULTS.md in place, with its own date and load average.
"""

import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
WORK = Path(os.environ.get("WORK", "/tmp/s3bench-bench"))
S3BENCH = os.environ.get("S3BENCH", str(WORK / "s3bench"))
FIO = os.environ.get("FIO", "")
DURATION = int(os.environ.get("DURATION", "10"))
# The RSS run. Its goal compares RSS at RSS_LATE_S (600 s, or the run's last
# sample when LONG_S is shorter) with RSS at 60 s; the default runs a minute
# past 600 s so that sample falls mid-phase, not while the report is written.
LONG_S = int(os.environ.get("LONG_S", "660"))
RSS_LATE_S = min(600, LONG_S)
SKIP_C10K = os.environ.get("SKIP_C10K") == "1"
CRITERION = os.environ.get("CRITERION", "")

BUCKET = "s3bench-gp"
ACCESS_KEY = "S3BENCHBENCHKEY00001"
SECRET_KEY = "s3bench-bench-secret-key-not-a-real-one"
NCPU = os.cpu_count() or 1
CLIENT_CORE, SERVER_CORE = "1", "0"
TICK = os.sysconf("SC_CLK_TCK")

CLIENT_ENV = dict(
    os.environ,
    AWS_ACCESS_KEY_ID=ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY=SECRET_KEY,
    AWS_EC2_METADATA_DISABLED="true",
    AWS_REGION="us-east-1",
)


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def pin(core, cmd):
    """Pins a command to one core when there are at least two."""
    if NCPU >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", core] + cmd
    return cmd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid):
    """utime + stime of a live process (all its threads), seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu_s(pids):
    return sum(proc_cpu_s(p) for p in pids)


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class Measured:
    """A finished client process: its output and its own resource usage."""

    def __init__(self, rc, out, err, cpu_s, maxrss_kib, wall_s, rss_samples):
        self.rc, self.out, self.err = rc, out, err
        self.cpu_s, self.maxrss_kib, self.wall_s = cpu_s, maxrss_kib, wall_s
        self.rss_samples = rss_samples


def measure(cmd, env=None, sample_every=None, timeout=None):
    """Runs one client process and reads its CPU and peak RSS from wait4()."""
    tag = f"{int(time.time() * 1000)}"
    out_p, err_p = WORK / f"out-{tag}.txt", WORK / f"err-{tag}.txt"
    with open(out_p, "wb") as out, open(err_p, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env or CLIENT_ENV, cwd=WORK)
        samples = []
        next_sample = t0 + (sample_every or 0)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            now = time.monotonic()
            if timeout and now - t0 > timeout:
                os.kill(p.pid, signal.SIGKILL)
            if sample_every and now >= next_sample:
                r = rss_kib(p.pid)
                if r is not None:
                    samples.append((round(now - t0), r))
                next_sample += sample_every
            time.sleep(0.05)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    text = out_p.read_text(errors="replace")
    etext = err_p.read_text(errors="replace")
    out_p.unlink()
    err_p.unlink()
    return Measured(p.returncode, text, etext, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, wall, samples)


class Server:
    """A server process pinned to the server core; stopped by its PID."""

    def __init__(self, name, cmd, ready, cwd=None):
        self.name = name
        self.log = WORK / f"{name}.log"
        self.proc = subprocess.Popen(
            pin(SERVER_CORE, cmd), stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, cwd=cwd
        )
        deadline = time.monotonic() + 30
        while not ready(self):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise SystemExit(f"{name} did not start; its log: {self.log}\n{self.log.read_text()}")
            time.sleep(0.1)

    def pids(self):
        """The process and its direct children (nginx's worker)."""
        pids = [self.proc.pid]
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(k) for k in kids.split()]
        except OSError:
            pass
        return pids

    def cpu_s(self):
        return tree_cpu_s(self.pids())

    def stop(self, sig=signal.SIGINT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --- the tools -------------------------------------------------------------

ROWS = []  # dicts: section, workload, tool, server, inflight, ops_s, cpu_us, srv_us, p50, p99, rss_mib, errors, note


def add_row(**kw):
    row = dict(note="", srv_us=None, mib_s=None)
    row.update(kw)
    ROWS.append(row)
    ops = f"{row['ops_s']:.0f} ops/s" if row.get("ops_s") else ""
    mib = f"{row['mib_s']:.0f} MiB/s" if row.get("mib_s") else ""
    log(f"  {row['tool']:<10} {row['workload']:<10} {row['inflight']:>5}: {ops}{mib} "
        f"cpu {fmt(row.get('cpu_us'))} us/op, p50 {fmt(row.get('p50'))} p99 {fmt(row.get('p99'))} us, "
        f"rss {fmt(row.get('rss_mib'))} MiB, errors {row.get('errors')}")


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def scenario_for(name, port, overrides=None):
    """A copy of bench/NAME.toml whose target is the separate server."""
    text = (BENCH / f"{name}.toml").read_text()
    text = text.replace(
        "[targets.standard]\n",
        f'[targets.standard]\nendpoint = "http://127.0.0.1:{port}"\npath_style = true\n',
        1,
    )
    for old, new in (overrides or {}).items():
        text = re.sub(old, new, text, flags=re.M)
    path = WORK / "scenarios" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


SDK_PATH = {r"\Z": '\n[client]\nrequest_path = "sdk"\n'}


def run_s3bench(name, port, server, extra=(), sample_every=None, env=None, timeout=None, overrides=None):
    """Runs one scenario; returns (result.json as dict, Measured, server CPU s)."""
    path = scenario_for(name, port, overrides)
    cmd = pin(CLIENT_CORE, [S3BENCH, "run", str(path), "--threads", "1", "--out", str(WORK / "results"), "-q", *extra])
    s0 = server.cpu_s()
    m = measure(cmd, env=env, sample_every=sample_every, timeout=timeout)
    srv = server.cpu_s() - s0
    if m.rc != 0:
        log(f"s3bench {name} exited {m.rc}: {m.err.strip()[-2000:]}")
        return None, m, srv
    report = Path(m.out.strip().splitlines()[-1])
    return json.loads((report.parent / "result.json").read_text()), m, srv


def measured_phase(result, name):
    for ph in result["phases"]:
        if ph["name"] == name:
            return ph["targets"][0]
    raise KeyError(name)


def s3bench_row(workload, inflight, name, op, port, server, extra=(), sdk=False):
    """s3bench on its default (direct) request path, or with sdk=True every
    request through aws-sdk-s3, to show what the SDK path costs."""
    tool = "s3bench (aws-sdk-s3 path)" if sdk else "s3bench"
    result, m, srv = run_s3bench(name, port, server, extra, overrides=SDK_PATH if sdk else None)
    if result is None:
        add_row(section="4k", workload=workload, tool=tool, server="s3bench serve", inflight=inflight,
                ops_s=None, cpu_us=None, p50=None, p99=None, rss_mib=m.maxrss_kib / 1024, errors="run failed")
        return None
    t = measured_phase(result, name)
    o = t["ops"][op]
    all_requests = sum(
        r["requests"] for ph in result["phases"] for tt in ph["targets"] for d in (tt["ops"], tt["warmup"]) for r in d.values()
    )
    add_row(
        section="4k", workload=workload, tool=tool, server="s3bench serve", inflight=inflight,
        ops_s=o["ops_per_sec"], cpu_us=result["client"]["cpu_us_per_request"],
        srv_us=srv * 1e6 / all_requests if all_requests else None,
        p50=o["latency_us"]["p50"], p99=o["latency_us"]["p99"], rss_mib=m.maxrss_kib / 1024,
        errors=o["errors"],
        note=f"whole process incl. data set and cleanup: {m.cpu_s * 1e6 / max(all_requests, 1):.1f} us/request",
    )
    return result


CHECKSUMS = ("none", "crc32", "crc32c", "crc64nvme", "sha256")
CHECKSUM_ROWS = []
CHECKSUM_HEADING = "## Checksums: PUT and GET by `[client] checksum`"
# Earlier name of the section, replaced in place when found.
OLD_CHECKSUM_HEADINGS = ("## 4 KiB PUT by upload checksum",)


CHECKSUM_REPEAT = int(os.environ.get("CHECKSUM_REPEAT", "3"))
CHECKSUM_S = int(os.environ.get("CHECKSUM_S", "5"))
# (label, scenario, op, object size): 4 KiB PUTs (the issue's question),
# 1 MiB PUTs (where a checksum is no longer noise) and 1 MiB GETs of whole
# objects (download validation: the client checks each body).
CHECKSUM_CASES = (
    ("PUT 4 KiB", "put-4k", "put", "4KiB"),
    ("PUT 1 MiB", "put-4k", "put", "1MiB"),
    ("GET 1 MiB", "get-4k", "get", "1MiB"),
)


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def checksum_rows(port, server):
    """Each case of CHECKSUM_CASES (16 in flight) with each `[client]
    checksum`, on the direct path and the aws-sdk-s3 path: what the SDKs'
    default checksums cost. CHECKSUM_REPEAT rounds over every combination,
    interleaved, so a change of the machine's load spreads over every row;
    each row is the median."""
    runs = {}
    for rep in range(CHECKSUM_REPEAT):
        for label, name, op, size in CHECKSUM_CASES:
            for alg in CHECKSUMS:
                for path in ("direct", "sdk"):
                    over = {r'size = "4KiB"': f'size = "{size}"',
                            r"\Z": f'\n[client]\nrequest_path = "{path}"\nchecksum = "{alg}"\n'}
                    log(f"{label}, checksum {alg}, {path} path, round {rep + 1}/{CHECKSUM_REPEAT}")
                    result, m, srv = run_s3bench(name, port, server,
                                                 ("--keep-data", "--duration", f"{CHECKSUM_S}s"), overrides=over)
                    if result is None:
                        continue
                    o = measured_phase(result, name)["ops"][op]
                    reqs = sum(r["requests"] for ph in result["phases"] for t in ph["targets"]
                               for d in (t["ops"], t["warmup"]) for r in d.values())
                    runs.setdefault((label, alg, path), []).append(dict(
                        ops_s=o["ops_per_sec"], cpu_us=result["client"]["cpu_us_per_request"],
                        srv_us=srv * 1e6 / reqs if reqs else None, p50=o["latency_us"]["p50"],
                        p99=o["latency_us"]["p99"], errors=o["errors"]))
    for label, *_ in CHECKSUM_CASES:
        for alg in CHECKSUMS:
            for path in ("direct", "sdk"):
                row = dict(case=label, alg=alg, path="aws-sdk-s3" if path == "sdk" else "direct")
                got = runs.get((label, alg, path), [])
                if not got:
                    row.update(errors="run failed")
                else:
                    for k in ("ops_s", "cpu_us", "srv_us", "p50", "p99"):
                        vals = [g[k] for g in got if g[k] is not None]
                        row[k] = median(vals) if vals else None
                    cpus = [g["cpu_us"] for g in got]
                    row["cpu_range"] = (min(cpus), max(cpus))
                    row["errors"] = sum(g["errors"] for g in got)
                    row["runs"] = len(got)
                log(f"  {row}")
                CHECKSUM_ROWS.append(row)


def render_checksums(started, load_start, load_end):
    base = {(r["case"], r["path"]): r.get("cpu_us") for r in CHECKSUM_ROWS if r["alg"] == "none"}
    out = [CHECKSUM_HEADING + "\n"]
    out.append(f"`put-4k.toml` and `get-4k.toml` (16 in flight, {CHECKSUM_S} s after 1 s of warm-up; the "
               "object size set per case) with `[client] checksum` and `request_path` set, "
               f"{CHECKSUM_REPEAT} interleaved rounds over every row, each row the median (client CPU: "
               f"min-max of the rounds too); {started:%Y-%m-%d %H:%M} UTC, load average "
               f"{' '.join(load_start)} at start, {' '.join(load_end)} at end. Client CPU is s3bench's own per "
               "request; the extra is the difference to `none` on the same path and case. PUTs carry the "
               "checksum, which the server verifies; GETs ask for it (`x-amz-checksum-mode: ENABLED`) and the "
               "client checks each whole body against it (objects written with that checksum; CRC64NVME, "
               "which S3 adds, for `none`, which checks nothing).\n")
    out.append("| case | checksum | request path | ops/s | client CPU µs/request (min-max) | extra vs none µs | "
               "server CPU µs/op | p50 µs | p99 µs | errors |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in CHECKSUM_ROWS:
        b = base.get((r["case"], r["path"]))
        extra = r.get("cpu_us") - b if r.get("cpu_us") is not None and b is not None else None
        lo, hi = r.get("cpu_range", (None, None))
        out.append(f"| {r['case']} | {r['alg']} | {r['path']} | {fmt(r.get('ops_s'), 0)} | {fmt(r.get('cpu_us'))} "
                   f"({fmt(lo)}-{fmt(hi)}) | {'-' if r['alg'] == 'none' else fmt(extra)} | {fmt(r.get('srv_us'))} | "
                   f"{fmt(r.get('p50'), 0)} | {fmt(r.get('p99'), 0)} | {r.get('errors')} |")
    out.append("\nRead the aws-sdk-s3 PUT rows of 1 MiB with care: a body over 64 KiB with a checksum goes out "
               "aws-chunked with the checksum as a trailer, and aws-sdk-s3 signs every 64 KiB chunk (SHA-256 "
               "and HMAC, `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`) when the endpoint is `http:` "
               "(`aws_chunked.rs`: `sign_during_encoding = uri.starts_with(\"http:\")`), as here; over "
               "`https:` (real AWS) it sends `STREAMING-UNSIGNED-PAYLOAD-TRAILER`. `perf` on the crc32 run: 54% "
               "of the client's CPU in `sha2::sha256::x86_sha::compress`, 7% in the CRC. So most of that row's "
               "extra is the chunk signing an `http:` endpoint costs, not the checksum; the direct path sends "
               "the checksum as a header over an unsigned payload on either scheme. At 4 KiB the body is in "
               "memory and sent as one signed payload with the checksum as a header, on both schemes.")
    crit = [c for c in criterion_numbers() if c[0].startswith("checksum_")]
    if crit:
        out.append("\nThe checksum computation alone (criterion `checksum_<alg>_<size>`, the direct path's code; "
                   "low / estimate / high):\n")
        out.append("| bench | time |\n|---|---:|")
        for name, lo, mid, hi in crit:
            out.append(f"| {name} | {lo} / **{mid}** / {hi} |")
    return "\n".join(out).rstrip("\n") + "\n"


OPLOG_HEADING = "## Op log: `run --op-log`"
OPLOG_REPEAT = int(os.environ.get("OPLOG_REPEAT", "3"))
OPLOG_S = int(os.environ.get("OPLOG_S", "10"))
OPLOG_LONG_S = int(os.environ.get("OPLOG_LONG_S", "300"))


def oplog_only():
    """4 KiB GETs (16 in flight, `get-4k.toml`) without and with
    `--op-log`, OPLOG_REPEAT interleaved rounds, each row the median; then
    one OPLOG_LONG_S run with it, its RSS sampled every 10 s; writes the
    op-log section of RESULTS.md."""
    WORK.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    port, server = start_s3bench_server()
    runs = {False: [], True: []}
    long = {}
    try:
        for rep in range(OPLOG_REPEAT):
            for logged in (False, True):
                log(f"GET 4 KiB, 16 in flight, op log {'on' if logged else 'off'}, round {rep + 1}/{OPLOG_REPEAT}")
                extra = ("--duration", f"{OPLOG_S}s", *(("--op-log",) if logged else ()))
                result, m, srv = run_s3bench("get-4k", port, server, extra)
                if result is None:
                    continue
                o = measured_phase(result, "get-4k")["ops"]["get"]
                logs = result.get("op_logs") or [{}]
                runs[logged].append(dict(ops_s=o["ops_per_sec"], cpu_us=result["client"]["cpu_us_per_request"],
                                         p50=o["latency_us"]["p50"], p99=o["latency_us"]["p99"],
                                         rss=m.maxrss_kib / 1024, rows=logs[0].get("rows"),
                                         stalls=logs[0].get("stalls")))
        log(f"long run with --op-log: {OPLOG_LONG_S} s, RSS every 10 s")
        r, m, _ = run_s3bench("get-4k", port, server, ("--duration", f"{OPLOG_LONG_S}s", "--op-log"),
                              sample_every=10, timeout=OPLOG_LONG_S + 180)
        if r:
            report_dir = Path(m.out.strip().splitlines()[-1]).parent
            f = report_dir / "ops.csv.gz"
            long = dict(samples=m.rss_samples, maxrss_kib=m.maxrss_kib, rows=r["op_logs"][0]["rows"],
                        stalls=r["op_logs"][0]["stalls"], bytes=f.stat().st_size if f.exists() else None)
            if f.exists():
                f.unlink()
    finally:
        server.stop()
    load_end = Path("/proc/loadavg").read_text().split()[:3]
    out = [OPLOG_HEADING + "\n"]
    out.append(f"`get-4k.toml` (4 KiB GETs, 16 in flight, {OPLOG_S} s after 1 s of warm-up, one engine thread "
               f"pinned to core 1, `s3bench serve` on core 0) without and with `--op-log`, {OPLOG_REPEAT} "
               f"interleaved rounds, each row the median (client CPU: min-max of the rounds too); "
               f"{started:%Y-%m-%d %H:%M} UTC, load average {' '.join(load_start)} at start, "
               f"{' '.join(load_end)} at end. Client CPU is s3bench's own getrusage per request, the op log's "
               "writer thread included.\n")
    out.append("| op log | ops/s | client CPU µs/request (min-max) | extra µs/request | p50 µs | p99 µs | peak RSS MiB | rows | writer stalls |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = None
    for logged in (False, True):
        got = runs[logged]
        if not got:
            out.append(f"| {'on' if logged else 'off'} | run failed | | | | | | | |")
            continue
        med = {k: median([g[k] for g in got if g[k] is not None]) if any(g[k] is not None for g in got) else None
               for k in ("ops_s", "cpu_us", "p50", "p99", "rss")}
        cpus = [g["cpu_us"] for g in got]
        if not logged:
            base = med["cpu_us"]
        extra = med["cpu_us"] - base if logged and base is not None else None
        rows = median([g["rows"] for g in got if g.get("rows")]) if logged else None
        stalls = sum(g.get("stalls") or 0 for g in got) if logged else None
        out.append(f"| {'on' if logged else 'off'} | {fmt(med['ops_s'], 0)} | {fmt(med['cpu_us'])} "
                   f"({fmt(min(cpus))}-{fmt(max(cpus))}) | {fmt(extra) if logged else '-'} | {fmt(med['p50'], 0)} | "
                   f"{fmt(med['p99'], 0)} | {fmt(med['rss'])} | {fmt(rows, 0) if rows else '-'} | "
                   f"{stalls if logged else '-'} |")
    samples = long.get("samples") or []
    if samples:
        early = next((kib for t, kib in samples if t >= 60), samples[0][1])
        late_t, late = samples[-1]
        per_row = long["bytes"] / long["rows"] if long.get("bytes") and long.get("rows") else None
        out.append(f"\nLong run with `--op-log` ({OPLOG_LONG_S} s): {fmt(long['rows'], 0)} rows, "
                   f"{fmt(long['bytes'] / 2**20 if long.get('bytes') else None)} MiB of gzip CSV "
                   f"({fmt(per_row)} bytes a row), {long.get('stalls')} writer stalls; RSS {fmt(early / 1024)} MiB at "
                   f"60 s, {fmt(late / 1024)} MiB at {late_t:.0f} s, peak {fmt(long['maxrss_kib'] / 1024)} MiB.")
    crit = [c for c in criterion_numbers() if "oplog_" in c[0]]
    if crit:
        out.append("\nCriterion (`oplog_record`: what the request's own task spends, copying its row into the "
                   "thread's batch, timed batch by batch while the writer keeps up; `oplog_cpu_per_row`: the "
                   "process's CPU per row, the writer's CSV formatting and gzip included; low / estimate / high):\n")
        out.append("| bench | time |\n|---|---:|")
        for name, lo, mid, hi in crit:
            out.append(f"| {name} | {lo} / **{mid}** / {hi} |")
    section = "\n".join(out).rstrip("\n") + "\n"
    path = BENCH / "RESULTS.md"
    path.write_text(splice_section(path.read_text() if path.exists() else "", section, OPLOG_HEADING))
    print(section)
    log(f"written: the op-log section of {path}")


def splice_section(md, section, heading=None):
    """`md` with the section under `heading` (the checksum section by
    default) replaced by `section`, or inserted before the hot-path section."""
    headings = (heading,) if heading else (CHECKSUM_HEADING, *OLD_CHECKSUM_HEADINGS)
    start = -1
    for heading in headings:
        start = md.find(heading)
        if start >= 0:
            break
    if start >= 0:
        end = md.find("\n## ", start + len(heading))
        return md[:start] + section + (md[end:] if end >= 0 else "")
    at = md.find("## Hot path")
    return md + "\n" + section if at < 0 else md[:at] + section + "\n" + md[at:]


METRICS_HEADING = "## Live metrics: `--metrics-listen` on and off"
METRICS_REPEAT = int(os.environ.get("METRICS_REPEAT", "5"))
METRICS_S = int(os.environ.get("METRICS_S", "5"))
METRICS_ROWS = []


def scraper(port, stop, counts):
    """Scrapes http://127.0.0.1:PORT/metrics every second until `stop` is set
    (Prometheus would every 15-30 s: this is pessimistic); counts the good ones."""
    import urllib.request
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                if r.status == 200 and b"s3bench_operations_total" in r.read():
                    counts[0] += 1
        except OSError:
            pass


def metrics_rows(port, server):
    """4 KiB GETs, 16 in flight, METRICS_REPEAT interleaved rounds of a run
    without and a run with --metrics-listen (scraped every second); each row
    the median of its runs."""
    import threading
    runs = {"off": [], "on": []}
    for rep in range(METRICS_REPEAT):
        for mode in ("off", "on"):
            extra = ["--keep-data", "--duration", f"{METRICS_S}s"]
            stop, counts, t = threading.Event(), [0], None
            if mode == "on":
                mport = free_port()
                extra += ["--metrics-listen", f"127.0.0.1:{mport}", "--metrics-linger", "0s"]
                t = threading.Thread(target=scraper, args=(mport, stop, counts), daemon=True)
                t.start()
            log(f"GET 4 KiB, metrics {mode}, round {rep + 1}/{METRICS_REPEAT}")
            result, m, srv = run_s3bench("get-4k", port, server, extra)
            stop.set()
            if t:
                t.join()
            if result is None:
                continue
            o = measured_phase(result, "get-4k")["ops"]["get"]
            runs[mode].append(dict(ops_s=o["ops_per_sec"], cpu_us=result["client"]["cpu_us_per_request"],
                                   p50=o["latency_us"]["p50"], p99=o["latency_us"]["p99"],
                                   errors=o["errors"], scrapes=counts[0]))
    for mode in ("off", "on"):
        got = runs[mode]
        row = dict(mode=mode, runs=len(got))
        if got:
            for k in ("ops_s", "cpu_us", "p50", "p99"):
                row[k] = median([g[k] for g in got])
            row["cpu_range"] = (min(g["cpu_us"] for g in got), max(g["cpu_us"] for g in got))
            row["errors"] = sum(g["errors"] for g in got)
            row["scrapes"] = sum(g["scrapes"] for g in got)
        log(f"  {row}")
        METRICS_ROWS.append(row)


def render_metrics(started, load_start, load_end):
    out = [METRICS_HEADING + "\n"]
    crit = {c[0]: c for c in criterion_numbers()}
    if "record_sample" in crit and "record_sample_live" in crit:
        off, on = to_ns(crit["record_sample"][2]), to_ns(crit["record_sample_live"][2])
        out.append("Recording one sample on an engine thread (criterion, low / estimate / high; run just before "
                   "the runs below, on the same machine and load): the live counters add what a request costs "
                   "with metrics on, on the request path.\n")
        out.append("| bench | time |\n|---|---:|")
        for n in ("record_sample", "record_sample_live", "metrics_scrape_encode"):
            if n in crit:
                _, lo, mid, hi = crit[n]
                out.append(f"| {n} | {lo} / **{mid}** / {hi} |")
        out.append(f"\nrecord_sample_live - record_sample = **{on - off:.1f} ns** per request (the goal: at most "
                   f"500 ns). metrics_scrape_encode is one scrape of 2 targets x 4 phases x 6 ops on 16 engine "
                   "threads, on the coordinator's runtime, not on an engine thread.\n")
    if METRICS_ROWS:
        base = next((r.get("cpu_us") for r in METRICS_ROWS if r["mode"] == "off"), None)
        out.append(f"End to end: `get-4k.toml` (4 KiB GETs, 16 in flight, `--threads 1`, {METRICS_S} s), "
                   f"{METRICS_REPEAT} interleaved rounds of a run without and a run with "
                   "`--metrics-listen` scraped every second, each row the median (client CPU: min-max too); "
                   f"{started:%Y-%m-%d %H:%M} UTC, load average {' '.join(load_start)} at start, "
                   f"{' '.join(load_end)} at end. Client CPU is s3bench's own per request (scrapes included: "
                   "the server runs in the process).\n")
        out.append("| metrics | runs | scrapes | ops/s | client CPU µs/request (min-max) | extra vs off µs | p50 µs | p99 µs | errors |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in METRICS_ROWS:
            lo, hi = r.get("cpu_range", (None, None))
            extra = r.get("cpu_us") - base if r.get("cpu_us") is not None and base is not None else None
            out.append(f"| {r['mode']} | {r['runs']} | {r.get('scrapes', '-')} | {fmt(r.get('ops_s'), 0)} | "
                       f"{fmt(r.get('cpu_us'))} ({fmt(lo)}-{fmt(hi)}) | "
                       f"{'-' if r['mode'] == 'off' else fmt(extra, 2)} | {fmt(r.get('p50'), 0)} | "
                       f"{fmt(r.get('p99'), 0)} | {r.get('errors')} |")
    return "\n".join(out).rstrip("\n") + "\n"


def metrics_only():
    WORK.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    if os.environ.get("SKIP_E2E") != "1":
        port, server = start_s3bench_server()
        try:
            metrics_rows(port, server)
        finally:
            server.stop()
    section = render_metrics(started, load_start, Path("/proc/loadavg").read_text().split()[:3])
    path = BENCH / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    path.write_text(splice_section(text, section, METRICS_HEADING))
    print(section)
    log(f"written: the live-metrics section of {path}")


def start_s3bench_server():
    port = free_port()
    server = Server(
        "s3bench-serve",
        [S3BENCH, "serve", "--listen", f"127.0.0.1:{port}", "--bucket", BUCKET,
         "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, "--threads", "1"],
        lambda s: "serving until" in s.log.read_text(errors="replace"),
    )
    return port, server


def checksums_only():
    WORK.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    port, server = start_s3bench_server()
    try:
        checksum_rows(port, server)
    finally:
        server.stop()
    section = render_checksums(started, load_start, Path("/proc/loadavg").read_text().split()[:3])
    path = BENCH / "RESULTS.md"
    path.write_text(splice_section(path.read_text() if path.exists() else "", section))
    print(section)
    log(f"written: the checksum section of {path}")


def fio_env(port, jobs, runtime):
    return dict(
        CLIENT_ENV,
        FIO_HTTP_HOST=f"127.0.0.1:{port}",
        FIO_BUCKET=BUCKET,
        FIO_JOBS=str(jobs),
        FIO_RUNTIME=str(runtime),
    )


def fio_json(text):
    i = text.find("{")
    return json.loads(text[i:]) if i >= 0 else None


def fio_seed(port):
    m = measure([FIO, "--output-format=json", "--section=seed", str(BENCH / "fio-s3.fio")], env=fio_env(port, 1, 1))
    j = fio_json(m.out)
    ok = m.rc == 0 and j and j["jobs"][0]["error"] == 0 and j["jobs"][0]["write"]["total_ios"] == 64
    if not ok:
        log(f"fio seed failed (rc {m.rc}): {m.err.strip()[-1500:]} {m.out[-500:]}")
    return ok


def fio_row(workload, inflight, section, port, server):
    ddir = "read" if section == "get" else "write"
    s0 = server.cpu_s()
    m = measure(
        pin(CLIENT_CORE, [FIO, "--output-format=json", f"--section={section}", str(BENCH / "fio-s3.fio")]),
        env=fio_env(port, inflight, DURATION),
        timeout=DURATION + 120,
    )
    srv = server.cpu_s() - s0
    j = fio_json(m.out)
    if m.rc != 0 or not j:
        log(f"fio {section} {inflight} exited {m.rc}: {m.err.strip()[-1500:]}")
        add_row(section="4k", workload=workload, tool="fio", server="s3bench serve", inflight=inflight, ops_s=None,
                cpu_us=None, p50=None, p99=None, rss_mib=m.maxrss_kib / 1024, errors="run failed")
        return
    job = j["jobs"][0]
    d = job[ddir]
    ios = d["total_ios"]
    pct = d["clat_ns"].get("percentile", {})
    add_row(
        section="4k", workload=workload, tool="fio", server="s3bench serve", inflight=inflight,
        ops_s=d["iops"], cpu_us=m.cpu_s * 1e6 / ios if ios else None,
        srv_us=srv * 1e6 / ios if ios else None,
        p50=pct.get("50.000000", 0) / 1000, p99=pct.get("99.000000", 0) / 1000,
        rss_mib=m.maxrss_kib / 1024, errors=job["error"], note="p50/p99: fio's completion latency (clat)",
    )


def wrk_row(inflight, nginx_port, nginx):
    s0 = nginx.cpu_s()
    m = measure(pin(CLIENT_CORE, ["wrk", "-t1", f"-c{inflight}", f"-d{DURATION}s", "--latency",
                                  f"http://127.0.0.1:{nginx_port}/4k"]))
    srv = nginx.cpu_s() - s0
    t = m.out
    total = re.search(r"(\d+) requests in", t)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", t)

    def lat(p):
        mm = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
        if not mm:
            return None
        return float(mm.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[mm.group(2)]

    errs = 0
    for mm in re.finditer(r"Non-2xx or 3xx responses: (\d+)", t):
        errs += int(mm.group(1))
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    if se:
        errs += sum(int(x) for x in se.groups())
    n = int(total.group(1)) if total else 0
    add_row(
        section="4k", workload="GET 4 KiB", tool="wrk", server="nginx (unsigned)", inflight=inflight,
        ops_s=float(rps.group(1)) if rps else None, cpu_us=m.cpu_s * 1e6 / n if n else None,
        srv_us=srv * 1e6 / n if n else None, p50=lat(50), p99=lat(99), rss_mib=m.maxrss_kib / 1024,
        errors=errs if m.rc == 0 else f"rc {m.rc}", note="raw HTTP ceiling: no signing, static file",
    )


def awscrt_row(inflight, port, server, keys_file):
    s0 = server.cpu_s()
    m = measure(pin(CLIENT_CORE, [sys.executable, str(BENCH / "lib" / "awscrt_get.py"), f"127.0.0.1:{port}",
                                  BUCKET, str(keys_file), str(inflight), str(DURATION)]), timeout=DURATION + 60)
    srv = server.cpu_s() - s0
    try:
        j = json.loads(m.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        log(f"awscrt {inflight} failed (rc {m.rc}): {m.err.strip()[-1500:]}")
        return
    n = j["ops"] + j["errors"]
    add_row(
        section="4k", workload="GET 4 KiB", tool="awscrt", server="s3bench serve", inflight=inflight,
        ops_s=j["ops"] / j["elapsed_s"], cpu_us=m.cpu_s * 1e6 / n if n else None,
        srv_us=srv * 1e6 / n if n else None, p50=j["p50_us"], p99=j["p99_us"],
        rss_mib=m.maxrss_kib / 1024, errors=j["errors"],
        note="Python + aws-c-s3 GET_OBJECT; latency make_request -> on_done",
    )


# Issue 28's goals (bench/README.md): the 10,000-in-flight RSS budget, the
# CPU ceiling against wrk -> nginx and the per-request budgets of the op log
# and the live metrics.
C10K_RSS_MAX_MIB = 200
C10K_PER_REQUEST_MAX_KIB = 20
# Throughput at 10,000 in flight when issue 28 was filed (2-core VM): the
# floor the 10k run must not fall below.
C10K_OPS_BEFORE = 52000
CPU_VS_WRK_MAX = 1.3
OPLOG_BUDGET_US = 1.0
METRICS_BUDGET_US = 0.5
OVERHEAD_REPEAT = int(os.environ.get("OVERHEAD_REPEAT", "3"))


def has_flag(flag):
    """Whether this s3bench's `run` has `flag` (live metrics may be absent)."""
    try:
        out = subprocess.run([S3BENCH, "run", "--help"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in out


def overhead_ab(port, server):
    """4 KiB GETs, 16 in flight: plain, with `--op-log`, with
    `--metrics-listen 127.0.0.1:0` (when this build has it);
    OVERHEAD_REPEAT interleaved rounds, the median client CPU per request
    of each, so the difference is what the feature costs per request."""
    variants = {"off": ()}
    variants["op log"] = ("--op-log",)
    if has_flag("--metrics-listen"):
        variants["metrics"] = ("--metrics-listen", "127.0.0.1:0")
    cpu = {k: [] for k in variants}
    for rep in range(OVERHEAD_REPEAT):
        for name, extra in variants.items():
            log(f"GET 4 KiB, 16 in flight, {name}, round {rep + 1}/{OVERHEAD_REPEAT}")
            r, m, _ = run_s3bench("get-4k", port, server, ("--duration", f"{DURATION}s", *extra))
            if r:
                cpu[name].append(r["client"]["cpu_us_per_request"])
    return {k: (median(v), min(v), max(v), len(v)) for k, v in cpu.items() if v}


def issue28_goals(results):
    """Rows (goal, target, measured, verdict, cause) for issue 28's goals."""
    goals = []
    c = results.get("c10k") or {}
    g16 = find("s3bench", "GET 4 KiB", 16)
    if "count" in c:
        rss = c["rss_mib"]
        goals.append(("10,000 in flight: peak RSS", f"<= {C10K_RSS_MAX_MIB} MiB", f"{rss:.0f} MiB",
                      "met" if rss <= C10K_RSS_MAX_MIB else "not met",
                      "" if rss <= C10K_RSS_MAX_MIB else per_request_cause(c, g16)))
        if g16 and g16.get("rss_mib") and c.get("max_in_flight"):
            per = (rss - g16["rss_mib"]) * 1024 / (c["max_in_flight"] - 16)
            goals.append(("10,000 in flight: RSS per request in flight ((RSS at 10,000 - RSS at 16) / 9,984)",
                          f"<= {C10K_PER_REQUEST_MAX_KIB} KiB", f"{per:.1f} KiB",
                          "met" if per <= C10K_PER_REQUEST_MAX_KIB else "not met",
                          "" if per <= C10K_PER_REQUEST_MAX_KIB else per_request_cause(c, g16)))
        ok_ops = c["ops_s"] >= C10K_OPS_BEFORE
        goals.append(("10,000 in flight: throughput not lower than when issue 28 was filed",
                      f">= {C10K_OPS_BEFORE:,} GETs/s", f"{c['ops_s']:,.0f} GETs/s", "met" if ok_ops else "not met",
                      "" if ok_ops else "the server (one thread, core 0) or the machine's load: compare its server CPU "
                      "per request in the 4 KiB table"))
    else:
        goals.append(("10,000 in flight", f"<= {C10K_RSS_MAX_MIB} MiB, 0 errors", "not run", "n/a", ""))
    wrk = find("wrk", "GET 4 KiB", 16)
    for op in ("GET", "PUT"):
        s = find("s3bench", f"{op} 4 KiB", 16)
        rr = ratio(s and s["cpu_us"], wrk and wrk["cpu_us"])
        cause = ""
        if rr and rr > CPU_VS_WRK_MAX:
            cause = cpu_cause(s, wrk)
        goals.append((f"4 KiB {op} client CPU / wrk -> nginx GET (unsigned raw HTTP), 16 in flight",
                      f"<= {CPU_VS_WRK_MAX}", f"{fmt(s and s['cpu_us'])} / {fmt(wrk and wrk['cpu_us'])} µs = "
                      f"{fmt(rr, 2)}" if rr else "n/a",
                      ("met" if rr <= CPU_VS_WRK_MAX else "not met") if rr else "n/a", cause))
    ov = results.get("overhead") or {}
    base = ov.get("off")
    for name, budget, flag in (("op log", OPLOG_BUDGET_US, "--op-log"),
                               ("metrics", METRICS_BUDGET_US, "--metrics-listen")):
        got = ov.get(name)
        if not (base and got):
            goals.append((f"{flag}: extra client CPU per 4 KiB GET", f"<= {budget} µs",
                          "not measured" + ("" if name != "metrics" else " (this build has no --metrics-listen)"),
                          "n/a", ""))
            continue
        extra = got[0] - base[0]
        spread = max(got[2] - got[1], base[2] - base[1])
        goals.append((f"{flag}: extra client CPU per 4 KiB GET (median of {got[3]} interleaved rounds)",
                      f"<= {budget} µs", f"{got[0]:.1f} - {base[0]:.1f} = {extra:+.2f} µs (rounds' spread "
                      f"{spread:.1f} µs)", "met" if extra <= budget else "not met",
                      "" if extra <= budget else (f"within the rounds' spread ({spread:.1f} µs): rerun on a quiet "
                                                  "machine" if extra <= spread else
                                                  "the per-request work of the feature: see its criterion bench")))
    return goals


def per_request_cause(c, g16):
    """The measured split of the 10k run's memory for a goal not met."""
    parts = [f"{c['rss_mib']:.0f} MiB at {c.get('max_in_flight', 0):,} in flight"]
    if g16 and g16.get("rss_mib"):
        parts.append(f"{g16['rss_mib']:.0f} MiB at 16")
    parts.append("per request in flight, the client holds its worker task, its socket and the request's "
                 "state; `cargo nextest run --release -E 'binary(alloc_budget)' --no-capture` prints the "
                 "bytes per request in flight and per idle connection, heaptrack on a glibc build splits "
                 "the rest")
    return "; ".join(parts)


def cpu_cause(s, wrk):
    """What the CPU above the raw-HTTP ceiling is, from this run's criterion
    numbers when there are some."""
    crit = {n: to_ns(mid) for n, _, mid, _ in (criterion_numbers() or [])}
    known = [f"{n} {crit[n]:.0f} ns" for n in ("sign_direct_get", "record_sample", "pick_op_and_key") if n in crit]
    gap = s["cpu_us"] - wrk["cpu_us"]
    return (f"{gap:.1f} µs per request above wrk; of it on s3bench's side per request: "
            + (", ".join(known) if known else "see the criterion table")
            + "; the rest is the kernel's and tokio's per-request cost of a second process doing SigV4 "
            "and parsing S3 headers that nginx's static file does not have")


# s3dlio, pinned: bench/run.sh installs exactly this version when missing.
S3DLIO_VERSION = "0.10.0"


def s3dlio_row(section, workload, inflight, port, server, keys_file, batch):
    """s3dlio's get_many_stats (bench/lib/s3dlio_get.py) against the same
    server: throughput and client CPU per GET (wait4 rusage of the whole
    Python process / GETs completed; no per-request latency exposed)."""
    s0 = server.cpu_s()
    m = measure(pin(CLIENT_CORE, [sys.executable, str(BENCH / "lib" / "s3dlio_get.py"), f"http://127.0.0.1:{port}",
                                  BUCKET, str(keys_file), str(inflight), str(DURATION), str(batch)]),
                timeout=DURATION + 120)
    srv = server.cpu_s() - s0
    try:
        j = json.loads(m.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        log(f"s3dlio {workload} {inflight} failed (rc {m.rc}): {m.err.strip()[-1500:]}")
        add_row(section=section, workload=workload, tool="s3dlio", server="s3bench serve", inflight=inflight,
                ops_s=None, cpu_us=None, p50=None, p99=None, rss_mib=m.maxrss_kib / 1024, errors="run failed")
        return None
    n = j["ops"] + j["errors"]
    mib_s = j["bytes"] / 2**20 / j["elapsed_s"] if j["elapsed_s"] else None
    add_row(
        section=section, workload=workload, tool="s3dlio", server="s3bench serve", inflight=inflight,
        ops_s=j["ops"] / j["elapsed_s"] if j["elapsed_s"] else None, mib_s=mib_s if section == "64m" else None,
        cpu_us=m.cpu_s * 1e6 / n if n else None, srv_us=srv * 1e6 / n if n else None, p50=None, p99=None,
        rss_mib=m.maxrss_kib / 1024, errors=j["errors"],
        note=f"get_many_stats in batches of {j['batch']} URIs, max_in_flight = in flight; no per-request "
             "latency exposed; CPU includes the Python interpreter",
    )
    return mib_s


def curl_row(url, label, server, sigv4, seconds):
    """One curl process fetching `url` back to back for about `seconds`."""
    base = ["curl", "-sS", "--fail"]
    if sigv4:
        base += ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{ACCESS_KEY}:{SECRET_KEY}",
                 "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    probe = measure(base + ["-o", "/dev/null", "-w", "%{time_total}", url])
    if probe.rc != 0:
        log(f"curl {label} failed: {probe.err.strip()}")
        return None
    n = max(3, min(2000, int(seconds / max(float(probe.out or 1), 1e-3))))
    cfg = WORK / "curl.cfg"
    cfg.write_text("".join(f'url = "{url}"\noutput = "/dev/null"\n' for _ in range(n)))
    s0 = server.cpu_s()
    m = measure(pin(CLIENT_CORE, base + ["-w", "%{size_download} %{time_total}\\n", "-K", str(cfg)]))
    srv = server.cpu_s() - s0
    size = tot = 0.0
    for line in m.out.split("\n"):
        parts = line.split()
        if len(parts) == 2:
            size += float(parts[0])
            tot += float(parts[1])
    mib_s = size / 2**20 / tot if tot else None
    add_row(section="64m", workload="GET 64 MiB", tool="curl", server=label, inflight=1, ops_s=n / tot if tot else None,
            mib_s=mib_s, cpu_us=m.cpu_s * 1e6 / n, srv_us=srv * 1e6 / n, p50=None, p99=None,
            rss_mib=m.maxrss_kib / 1024, errors=0 if m.rc == 0 else f"rc {m.rc}",
            note=f"{n} GETs on one connection; MiB/s = bytes / summed transfer time")
    return mib_s


# --- the suite -------------------------------------------------------------

def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {
        "nproc": NCPU,
        "cpu": cpu,
        "kernel": platform.release(),
        "memory_gib": round(int(mem) / 2**20, 1),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def criterion_numbers():
    if not CRITERION or not Path(CRITERION).exists():
        return []
    text = Path(CRITERION).read_text()
    rows = []
    for m in re.finditer(r"^(\S+)\s*\n?\s+time:\s+\[([\d.]+ \S+) ([\d.]+ \S+) ([\d.]+ \S+)\]", text, re.M):
        rows.append((m.group(1), m.group(2), m.group(3), m.group(4)))
    return rows


def to_ns(s):
    v, unit = s.split()
    return float(v) * {"ps": 1e-3, "ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    started = datetime.datetime.now(datetime.timezone.utc)
    info = machine()
    versions = {
        "s3bench": version([S3BENCH, "--version"]),
        "fio": version([FIO, "--version"]) if FIO else None,
        "nginx": version(["nginx", "-v"]) if shutil.which("nginx") else None,
        "wrk": version(["wrk", "-v"]) if shutil.which("wrk") else None,
        "curl": version(["curl", "--version"]),
        "awscrt": version([sys.executable, "-c", "import awscrt; print('awscrt', awscrt.__version__)"]),
        "s3dlio": version([sys.executable, "-c",
                           "import importlib.metadata as m, s3dlio; print('s3dlio', m.version('s3dlio'))"]),
        "python": platform.python_version(),
    }
    if versions["awscrt"] and not versions["awscrt"].startswith("awscrt"):
        versions["awscrt"] = None
    if versions["s3dlio"] and not versions["s3dlio"].startswith("s3dlio"):
        versions["s3dlio"] = None
    log(f"machine: {info}; open files: {nofile}")
    log(f"versions: {versions}")

    results = {}
    server = nginx = None
    try:
        port, server = start_s3bench_server()
        nginx = None
        nginx_port = free_port()
        if versions["nginx"]:
            prefix = WORK / "nginx"
            for d in ("logs", "tmp", "html"):
                (prefix / d).mkdir(parents=True, exist_ok=True)
            (prefix / "nginx.conf").write_text((BENCH / "nginx.conf").read_text().replace("@PORT@", str(nginx_port)))
            (prefix / "html" / "4k").write_bytes(os.urandom(4096))
            with open(prefix / "html" / "64m", "wb") as f:
                for _ in range(64):
                    f.write(os.urandom(2**20))
            nginx = Server("nginx", ["nginx", "-p", str(prefix), "-c", "nginx.conf"], lambda s: port_open(nginx_port))

        # 4 KiB GET and PUT at 16 and 256 in flight.
        fio_ok = bool(FIO) and fio_seed(port)
        keys_file = WORK / "fio-keys.txt"
        keys_file.write_text("".join(f"fio/obj_{i * 4096}_4096\n" for i in range(64)))
        for inflight, get_name, put_name in ((16, "get-4k", "put-4k"), (256, "get-4k-256", "put-4k-256")):
            log(f"GET 4 KiB, {inflight} in flight")
            r = s3bench_row("GET 4 KiB", inflight, get_name, "get", port, server)
            if r and inflight == 16:
                results["get16"] = r
            s3bench_row("GET 4 KiB", inflight, get_name, "get", port, server, sdk=True)
            if fio_ok:
                fio_row("GET 4 KiB", inflight, "get", port, server)
            if versions["awscrt"] and fio_ok:
                awscrt_row(inflight, port, server, keys_file)
            if versions["s3dlio"] and fio_ok:
                s3dlio_row("4k", "GET 4 KiB", inflight, port, server, keys_file, 64 * inflight)
            if nginx and versions["wrk"]:
                wrk_row(inflight, nginx_port, nginx)
            log(f"PUT 4 KiB, {inflight} in flight")
            s3bench_row("PUT 4 KiB", inflight, put_name, "put", port, server, extra=("--keep-data",))
            s3bench_row("PUT 4 KiB", inflight, put_name, "put", port, server, extra=("--keep-data",), sdk=True)
            if fio_ok:
                fio_row("PUT 4 KiB", inflight, "put", port, server)

        # The op log and live metrics, each on and off (issue 28's budgets).
        results["overhead"] = overhead_ab(port, server)

        # What each upload checksum costs, on both request paths.
        checksum_start = (datetime.datetime.now(datetime.timezone.utc), Path("/proc/loadavg").read_text().split()[:3])
        checksum_rows(port, server)
        results["checksums"] = checksum_start + (Path("/proc/loadavg").read_text().split()[:3],)

        # 64 MiB GET throughput against curl on the same endpoint.
        log("GET 64 MiB, 1 in flight")
        r, m, srv = run_s3bench("get-64m", port, server, ("--keep-data",))
        if r:
            t = measured_phase(r, "get-64m")
            o = t["ops"]["get"]
            add_row(section="64m", workload="GET 64 MiB", tool="s3bench", server="s3bench serve", inflight=1,
                    ops_s=o["ops_per_sec"], mib_s=o["mib_per_sec"], cpu_us=r["client"]["cpu_us_per_request"],
                    srv_us=srv * 1e6 / max(1, o["requests"]), p50=o["latency_us"]["p50"],
                    p99=o["latency_us"]["p99"], rss_mib=m.maxrss_kib / 1024, errors=o["errors"])
            results["s3bench_64m"] = o["mib_per_sec"]
            url = f"http://127.0.0.1:{port}/{BUCKET}/{r['run_prefix']}00000000"
            results["curl_64m"] = curl_row(url, "s3bench serve", server, True, DURATION)
            if versions["s3dlio"]:
                keys_64m = WORK / "s3dlio-64m-keys.txt"
                keys_64m.write_text(f"{r['run_prefix']}00000000\n")
                results["s3dlio_64m"] = s3dlio_row("64m", "GET 64 MiB", 1, port, server, keys_64m, 4)
        if nginx:
            results["curl_nginx_64m"] = curl_row(f"http://127.0.0.1:{nginx_port}/64m", "nginx (unsigned)", nginx,
                                                 False, DURATION)

        # Memory over a long run, and s3bench's own gap between a response and the next request.
        log(f"long run: GET 4 KiB, 16 in flight, {LONG_S} s, RSS every 10 s")
        env = dict(CLIENT_ENV, S3BENCH_RECORD_GAP="1")
        r, m, _ = run_s3bench("get-4k", port, server, ("--duration", f"{LONG_S}s"), sample_every=10, env=env,
                              timeout=LONG_S + 120)
        results["long"] = {"samples": m.rss_samples, "maxrss_kib": m.maxrss_kib,
                           "ops": measured_phase(r, "get-4k")["ops"]["get"]["count"] if r else None}
        gap = re.findall(r"record-gap: (.*)", m.err)
        results["gap"] = gap

        # 10,000 in flight in one process.
        if not SKIP_C10K:
            log("10,000 in flight")
            r, m, _ = run_s3bench("get-4k-10k", port, server, timeout=300)
            if r:
                o = measured_phase(r, "get-4k-10k")["ops"]["get"]
                w = measured_phase(r, "get-4k-10k")["warmup"].get("get", {})
                max_inflight = max((row["in_flight"] for row in measured_phase(r, "get-4k-10k")["timeseries"]),
                                   default=0)
                results["c10k"] = dict(count=o["count"], errors=o["errors"], errors_by_kind=o["errors_by_kind"],
                                       warmup_errors=w.get("errors", 0), ops_s=o["ops_per_sec"],
                                       p50=o["latency_us"]["p50"], p99=o["latency_us"]["p99"],
                                       max_in_flight=max_inflight, rss_mib=m.maxrss_kib / 1024, nofile=nofile)
            else:
                results["c10k"] = dict(failed=m.err.strip()[-1000:], nofile=nofile)
    finally:
        if server:
            server.stop()
        if nginx:
            nginx.stop(signal.SIGQUIT)

    finished = datetime.datetime.now(datetime.timezone.utc)
    info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    md = render(started, finished, info, versions, results, nofile)
    # The checksum, live-metrics and op-log sections come from their own
    # `ONLY=...` runs: keep the last of each.
    prev = (BENCH / "RESULTS.md").read_text() if (BENCH / "RESULTS.md").exists() else ""
    for heading in (CHECKSUM_HEADING, METRICS_HEADING, OPLOG_HEADING):
        at = prev.find(heading)
        if at >= 0 and heading not in md:
            end = prev.find("\n## ", at + len(heading))
            md = splice_section(md, prev[at:end + 1] if end >= 0 else prev[at:], heading)
    (BENCH / "RESULTS.md").write_text(md)
    (WORK / "results.json").write_text(json.dumps({"rows": ROWS, "checksum_rows": CHECKSUM_ROWS, "results": results, "machine": info,
                                                   "versions": versions}, indent=1, default=str))
    print(md)
    log(f"written: {BENCH / 'RESULTS.md'} (raw: {WORK / 'results.json'})")


def table(rows, cols):
    head = "| " + " | ".join(c[0] for c in cols) + " |\n"
    head += "|" + "|".join("---" if i < 3 else "---:" for i in range(len(cols))) + "|\n"
    body = ""
    for r in rows:
        body += "| " + " | ".join(c[1](r) for c in cols) + " |\n"
    return head + body


def find(tool, workload, inflight):
    for r in ROWS:
        if r["tool"] == tool and r["workload"] == workload and r["inflight"] == inflight:
            return r
    return None


def ratio(a, b):
    return a / b if a is not None and b else None


def render(started, finished, info, versions, results, nofile):
    out = []
    out.append("# Benchmark results\n")
    out.append("Written by `bench/run.sh` (see the script's header for the method); do not edit by hand.\n")
    out.append(f"- Date: {started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC")
    out.append(f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB, Linux {info['kernel']}; "
               f"load average {' '.join(info['loadavg'])} at start, {' '.join(info['loadavg_end'])} at end")
    out.append("- Tools: " + "; ".join(f"{k}: {v}" for k, v in versions.items() if v))
    missing = [k for k, v in versions.items() if not v]
    if missing:
        out.append(f"- Not installed, skipped: {', '.join(missing)}")
    out.append(f"- Each measurement {DURATION} s; client pinned to core {CLIENT_CORE}, server to core {SERVER_CORE}"
               if NCPU >= 2 else f"- Each measurement {DURATION} s; one CPU, client and server share it")
    out.append("")
    cols = [
        ("workload", lambda r: r["workload"]),
        ("tool", lambda r: r["tool"]),
        ("server", lambda r: r["server"]),
        ("in flight", lambda r: fmt(r["inflight"])),
        ("ops/s", lambda r: fmt(r.get("ops_s"), 0)),
        ("client CPU µs/op", lambda r: fmt(r.get("cpu_us"))),
        ("server CPU µs/op", lambda r: fmt(r.get("srv_us"))),
        ("p50 µs", lambda r: fmt(r.get("p50"), 0)),
        ("p99 µs", lambda r: fmt(r.get("p99"), 0)),
        ("peak RSS MiB", lambda r: fmt(r.get("rss_mib"))),
        ("errors", lambda r: str(r.get("errors"))),
    ]
    out.append("## 4 KiB GET and PUT\n")
    out.append(table([r for r in ROWS if r["section"] == "4k"], cols))
    out.append("Client CPU: s3bench's own getrusage over its measured phases (requests of warm-up included); the "
               "others: wait4() rusage of the whole client process / requests it completed. Server CPU: "
               "/proc/PID/stat of the server process over the client's run / the client's requests.\n")
    notes = sorted({f"{r['tool']} ({r['server']}): {r['note']}" for r in ROWS
                    if r["note"] and not r["tool"].startswith("s3bench")})
    for n in notes:
        out.append(f"- {n}")
    for r in ROWS:
        if r["tool"].startswith("s3bench") and r["note"]:
            out.append(f"- {r['tool']} {r['workload']}, {r['inflight']} in flight: {r['note']}")
    out.append("")
    out.append("## 64 MiB GET throughput, one stream\n")
    cols64 = cols[:4] + [("MiB/s", lambda r: fmt(r.get("mib_s"), 0))] + cols[5:]
    out.append(table([r for r in ROWS if r["section"] == "64m"], cols64))

    out.append("## Goals (same run; 4 KiB GET, 16 in flight unless said)\n")
    goals = []
    s, f = find("s3bench", "GET 4 KiB", 16), find("fio", "GET 4 KiB", 16)
    rr = ratio(s and s["cpu_us"], f and f["cpu_us"])
    goals.append(("client CPU per GET, s3bench / fio", "far less than fio",
                  f"{fmt(s and s['cpu_us'])} / {fmt(f and f['cpu_us'])} µs = {fmt(rr, 2)}" if rr else "n/a",
                  "met" if rr and rr < 1 else ("not met" if rr else "n/a")))
    if rr:
        goals.append(("stretch: half of fio's CPU per GET", "<= 0.50", f"{fmt(rr, 2)}",
                      "met" if rr <= 0.5 else "not met"))
    sdk16 = find("s3bench (aws-sdk-s3 path)", "GET 4 KiB", 16)
    if s and sdk16 and s["cpu_us"] and sdk16["cpu_us"]:
        goals.append(("direct path vs aws-sdk-s3 path, client CPU per GET", "",
                      f"{fmt(s['cpu_us'])} / {fmt(sdk16['cpu_us'])} µs = {fmt(s['cpu_us'] / sdk16['cpu_us'], 2)}", "info"))
    s256, f256 = find("s3bench", "GET 4 KiB", 256), find("fio", "GET 4 KiB", 256)
    rr256 = ratio(s256 and s256["cpu_us"], f256 and f256["cpu_us"])
    if rr256:
        goals.append(("client CPU per GET, s3bench / fio, 256 in flight", "far less than fio", f"{fmt(s256['cpu_us'])} / {fmt(f256['cpu_us'])} µs = {fmt(rr256, 2)}",
                      "met" if rr256 < 1 else "not met"))
    gap = results.get("gap") or []
    gp99 = None
    for g in gap:
        m = re.search(r"p99=(\d+)ns", g)
        if m:
            gp99 = max(gp99 or 0, int(m.group(1)))
    goals.append(("s3bench recording overhead (response complete -> next op started; its signing and send "
                  "count in its latency), p99", "< 5 µs",
                  f"{gp99 / 1000:.2f} µs ({'; '.join(gap)})" if gp99 is not None else "not measured",
                  ("met" if gp99 < 5000 else "not met") if gp99 is not None else "n/a"))
    r64 = ratio(results.get("s3bench_64m"), results.get("curl_64m"))
    goals.append(("64 MiB GET, s3bench / curl on the same endpoint (MiB/s; issue 28: at least curl's)", ">= 1.00",
                  f"{fmt(results.get('s3bench_64m'), 0)} / {fmt(results.get('curl_64m'), 0)} = {fmt(r64, 2)}"
                  if r64 else "n/a", ("met" if r64 >= 1.0 else "not met") if r64 else "n/a"))
    long = results.get("long") or {}
    samples = long.get("samples") or []
    at60 = next((kib for t, kib in samples if t >= 60), None)
    late_t, late = next(((t, kib) for t, kib in reversed(samples) if t <= RSS_LATE_S), (None, None))
    growth = ratio(late, at60)
    goals.append((f"RSS flat over a long run (not hours): {late_t or RSS_LATE_S} s / 60 s", "~1.0 (flat)",
                  f"{fmt(late and late / 1024)} / {fmt(at60 and at60 / 1024)} MiB = {fmt(growth, 3)}" if growth else "n/a",
                  ("met" if growth <= 1.05 else "not met") if growth else "n/a"))
    c = results.get("c10k")
    if c and "count" in c:
        goals.append(("10,000 requests in flight in one process, no client-side errors", "0 errors",
                      f"{c['count']:,} GETs, {c['errors']} errors (+{c['warmup_errors']} in warm-up), "
                      f"max {c['max_in_flight']:,} in flight, {c['ops_s']:,.0f} ops/s, p99 {c['p99']:,.0f} µs, "
                      f"peak RSS {c['rss_mib']:.0f} MiB, ulimit -n {c['nofile']}",
                      "met" if c["errors"] == 0 and c["warmup_errors"] == 0 and c["max_in_flight"] >= 10000
                      else "not met"))
    elif c:
        goals.append(("10,000 requests in flight in one process", "0 errors", f"run failed: {c['failed']}", "not met"))
    out.append("| goal | target | measured | verdict |\n|---|---|---|---|")
    for g in goals:
        out.append("| " + " | ".join(g) + " |")
    out.append("")
    out.append("## Issue 28 goals (memory per request in flight, CPU against the raw-HTTP ceiling, "
               "per-request budgets)\n")
    out.append("| goal | target | measured | verdict | measured cause, when not met |\n|---|---|---|---|---|")
    for g in issue28_goals(results):
        out.append("| " + " | ".join(g) + " |")
    ov = results.get("overhead") or {}
    if ov:
        out.append("\nClient CPU µs per 4 KiB GET (16 in flight), median (min-max) of the interleaved rounds: "
                   + "; ".join(f"{k} {v[0]:.1f} ({v[1]:.1f}-{v[2]:.1f})" for k, v in ov.items()))
    out.append("")
    if samples:
        out.append(f"RSS of s3bench (GET 4 KiB, 16 in flight, {LONG_S} s, {fmt(long.get('ops'))} GETs), "
                   "sampled every 10 s from /proc/PID/status:\n")
        out.append("| s | " + " | ".join(str(t) for t, _ in samples) + " |")
        out.append("|---|" + "---:|" * len(samples))
        out.append("| MiB | " + " | ".join(f"{kib / 1024:.1f}" for _, kib in samples) + " |\n")

    if results.get("checksums"):
        out.append(render_checksums(*results["checksums"]))

    crit = criterion_numbers()
    if crit:
        out.append("## Hot path (`cargo bench --bench hot_path`, criterion: low / estimate / high)\n")
        out.append("| bench | time |\n|---|---:|")
        for name, lo, mid, hi in crit:
            out.append(f"| {name} | {lo} / **{mid}** / {hi} |")
        parts = {n: to_ns(mid) for n, _, mid, _ in crit}
        if "record_sample" in parts and "pick_op_and_key" in parts:
            out.append(f"\nrecord_sample + pick_op_and_key = "
                       f"{parts['record_sample'] + parts['pick_op_and_key']:.0f} ns: s3bench's own work between two "
                       "requests of one worker; build_get_request is the SDK's fluent builder, before signing and "
                       "sending.\n")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["checksums"]:
        checksums_only()
    elif sys.argv[1:] == ["metrics"]:
        metrics_only()
    elif sys.argv[1:] == ["oplog"]:
        oplog_only()
    else:
        main()
