#!/usr/bin/env bash
# Checks the embedded endpoint with the aws CLI v1, s3cmd and rclone: tools
# unrelated to s3bench that people already have. Reads AWS_ENDPOINT_URL,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION (run.sh sets them);
# AWS_CLI names the aws binary (default: aws on PATH). Every tool's files go
# to a temporary directory that is removed at the end. Exits non-zero on the
# first mismatch.
set -euo pipefail
aws_cli="${AWS_CLI:-aws}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
hostport="${AWS_ENDPOINT_URL#http://}"
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs a command that must fail; its stderr must contain $1.
must_fail() {
    local want="$1"; shift
    if "$@" >"$work/out" 2>&1; then fail "expected failure: $*"; fi
    grep -q -- "$want" "$work/out" || { cat "$work/out" >&2; fail "no '$want' in: $*"; }
}

head -c 300000 /dev/urandom >"$work/blob"
printf 'hello ' >"$work/part1"
printf 'world' >"$work/part2"

# --- aws CLI v1 -----------------------------------------------------------
"$aws_cli" --version 2>&1 | grep -q '^aws-cli/1\.' || fail "AWS_CLI is not aws CLI v1"
gp=cli-gp
"$aws_cli" s3api create-bucket --bucket "$gp" >/dev/null
"$aws_cli" s3 cp --quiet "$work/blob" "s3://$gp/dir/blob"
"$aws_cli" s3 cp --quiet "s3://$gp/dir/blob" "$work/blob.back"
cmp -s "$work/blob" "$work/blob.back" || fail "aws s3 cp round trip"
ok "aws CLI v1: s3 cp up and down, byte-exact"
listing="$("$aws_cli" s3 ls "s3://$gp/dir/")"
grep -q ' blob$' <<<"$listing" || fail "aws s3 ls"
ok "aws CLI v1: s3 ls"
"$aws_cli" s3api put-object --bucket "$gp" --key lock --body "$work/part1" --if-none-match '*' >/dev/null
must_fail PreconditionFailed "$aws_cli" s3api put-object --bucket "$gp" --key lock --body "$work/part2" --if-none-match '*'
ok "aws CLI v1: create-only put, second is 412 PreconditionFailed"
dir=cli--use1-az4--x-s3
"$aws_cli" s3api create-bucket --bucket "$dir" \
    --create-bucket-configuration 'Location={Type=AvailabilityZone,Name=use1-az4},Bucket={DataRedundancy=SingleAvailabilityZone,Type=Directory}' >/dev/null
"$aws_cli" s3api put-object --bucket "$dir" --key log --body "$work/part1" --write-offset-bytes 0 >/dev/null
"$aws_cli" s3api put-object --bucket "$dir" --key log --body "$work/part2" --write-offset-bytes 6 >/dev/null
must_fail InvalidWriteOffset "$aws_cli" s3api put-object --bucket "$dir" --key log --body "$work/part2" --write-offset-bytes 6
"$aws_cli" s3api rename-object --bucket "$dir" --key final --rename-source log >/dev/null
"$aws_cli" s3api get-object --bucket "$dir" --key final "$work/final" >/dev/null
[ "$(cat "$work/final")" = "hello world" ] || fail "append + rename content"
ok "aws CLI v1: append twice, wrong offset refused, rename-object, content 'hello world'"
"$aws_cli" s3 rm --quiet --recursive "s3://$gp/"

# --- s3cmd (ListObjects v1, path style) -----------------------------------
cat >"$work/s3cfg" <<EOF
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $hostport
host_bucket = $hostport
bucket_location = $AWS_REGION
use_https = False
signature_v2 = False
EOF
s3c() { s3cmd -c "$work/s3cfg" "$@"; }
s3c mb s3://s3cmd-gp >/dev/null
s3c put --quiet "$work/blob" s3://s3cmd-gp/a/blob
s3c put --quiet "$work/part1" s3://s3cmd-gp/a/b/p1
s3c put --quiet "$work/part2" s3://s3cmd-gp/top
# Listings are captured first: `grep -q` on a pipe would end the writer
# early (SIGPIPE), which pipefail turns into a failure.
top="$(s3c ls s3://s3cmd-gp/)"
grep -q 's3://s3cmd-gp/top' <<<"$top" || fail "s3cmd ls"
grep -q 'DIR *s3://s3cmd-gp/a/' <<<"$top" || fail "s3cmd ls common prefix"
[ "$(s3c ls --recursive s3://s3cmd-gp/ | grep -c 's3://s3cmd-gp/')" = 3 ] || fail "s3cmd ls --recursive"
ok "s3cmd: put, ls (prefixes), ls --recursive"
s3c get --quiet s3://s3cmd-gp/a/blob "$work/blob.s3cmd"
cmp -s "$work/blob" "$work/blob.s3cmd" || fail "s3cmd get"
ok "s3cmd: get byte-exact"
s3c del --quiet --recursive --force s3://s3cmd-gp/ >/dev/null
[ -z "$(s3c ls --recursive s3://s3cmd-gp/)" ] || fail "s3cmd del --recursive left objects"
ok "s3cmd: del --recursive empties the bucket"
sed 's/^signature_v2 = False/signature_v2 = True/' "$work/s3cfg" >"$work/s3cfg2"
must_fail "Signature Version 2" s3cmd -c "$work/s3cfg2" ls s3://s3cmd-gp/
ok "s3cmd with signature_v2 = True: told SigV2 is not supported"

# --- rclone (provider Other: ListObjects v1) ------------------------------
export RCLONE_CONFIG_EMB_TYPE=s3
export RCLONE_CONFIG_EMB_PROVIDER=Other
export RCLONE_CONFIG_EMB_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID"
export RCLONE_CONFIG_EMB_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
export RCLONE_CONFIG_EMB_ENDPOINT="$AWS_ENDPOINT_URL"
export RCLONE_CONFIG_EMB_REGION="$AWS_REGION"
export RCLONE_CONFIG_EMB_FORCE_PATH_STYLE=true
# rclone's aws-sdk-go cannot use a custom CA bundle over its own HTTP
# transport (LoadCustomCABundleError), and the endpoint is plain HTTP anyway.
rc() { env -u AWS_CA_BUNDLE rclone --config /dev/null -q "$@"; }
rc mkdir emb:rclone-gp
mkdir -p "$work/tree/sub"
cp "$work/blob" "$work/tree/sub/blob"
cp "$work/part1" "$work/tree/p1"
rc copy "$work/tree" emb:rclone-gp/t
[ "$(rc ls emb:rclone-gp | wc -l)" = 2 ] || fail "rclone ls"
rc cat emb:rclone-gp/t/sub/blob >"$work/blob.rclone"
cmp -s "$work/blob" "$work/blob.rclone" || fail "rclone cat"
rc check "$work/tree" emb:rclone-gp/t || fail "rclone check"
ok "rclone: copy, ls, cat byte-exact, check"
rc delete emb:rclone-gp
[ "$(rc ls emb:rclone-gp | wc -l)" = 0 ] || fail "rclone delete"
ok "rclone: delete"
echo "all tool checks passed"
