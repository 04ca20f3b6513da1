#!/usr/bin/env bash
# Runs boto3, the aws CLI v1, s3cmd and rclone (clients unrelated to s3bench)
# against the embedded endpoint. Installs boto3 and awscli (v1, PyPI) into
# tests/other-clients/.venv when missing; s3cmd and rclone come from apt
# (`apt-get install -y s3cmd rclone`; the script says so if they are
# missing). Starts the
# server with `cargo run --release --example serve`, runs the check, and
# stops the server by PID.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import boto3' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet boto3
fi
if [ ! -x "$venv/bin/aws" ]; then
    "$venv/bin/pip" install --quiet awscli
fi
for tool in s3cmd rclone; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y s3cmd rclone" >&2; exit 1; }
done

cd "$root"
cargo build --release --example serve --quiet
log="$(mktemp)"
"${CARGO_TARGET_DIR:-$root/target}/release/examples/serve" --listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
    grep -q '^serving until' "$log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "server exited" >&2; exit 1; }
    sleep 0.1
done
field() { sed -n "s/^$1: //p" "$log"; }
export AWS_ENDPOINT_URL="$(field endpoint)"
export AWS_ACCESS_KEY_ID="$(field access_key)"
export AWS_SECRET_ACCESS_KEY="$(field secret_key)"
export AWS_REGION="$(field region)"
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "server pid $pid at $AWS_ENDPOINT_URL"
"$venv/bin/python" "$here/boto3_check.py"
AWS_CLI="$venv/bin/aws" "$here/tools_check.sh"
# Ctrl-C makes the server print what it served, then exit.
kill -INT "$pid"
wait "$pid" || true
sed -n '/^requests served/,$p' "$log"
