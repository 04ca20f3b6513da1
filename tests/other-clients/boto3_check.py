"""Checks the embedded S3 endpoint with boto3, a client unrelated to s3bench.

Reads the endpoint and credentials from the environment (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION) and exercises put,
get (whole and ranged), list, copy, delete, multipart, and a directory
bucket with CreateSession. Exits non-zero on the first mismatch.
"""

import hashlib
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)
    print(f"ok: {what}")


def exercise(s3, bucket, create_kwargs):
    s3.create_bucket(Bucket=bucket, **create_kwargs)
    if bucket.endswith("--x-s3"):
        cs = s3.create_session(Bucket=bucket, SessionMode="ReadOnly")
        check(len(cs["Credentials"]["SessionToken"]) > 20, f"{bucket}: explicit CreateSession")
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="dir/a b+c.bin", Body=body, ContentType="application/x-test")
    got = s3.get_object(Bucket=bucket, Key="dir/a b+c.bin")
    check(got["Body"].read() == body, f"{bucket}: put/get round trip")
    check(got["ContentType"] == "application/x-test", f"{bucket}: content type kept")
    check(got["ETag"] == put["ETag"], f"{bucket}: ETag stable")
    rng = s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", Range="bytes=10-19")
    check(rng["Body"].read() == body[10:20], f"{bucket}: ranged get")
    try:
        s3.get_object(Bucket=bucket, Key="missing")
        check(False, f"{bucket}: missing key fails")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "NoSuchKey", f"{bucket}: missing key is NoSuchKey")

    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"list/{i}", Body=b"x")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="list/", PaginationConfig={"PageSize": 2}):
        keys += [o["Key"] for o in page.get("Contents", [])]
    check(sorted(keys) == [f"list/{i}" for i in range(5)], f"{bucket}: paginated listing")
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    check(sorted(p["Prefix"] for p in top.get("CommonPrefixes", [])) == ["dir/", "list/"], f"{bucket}: common prefixes")

    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "dir/a b+c.bin"})
    check(s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == body, f"{bucket}: copy")

    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1234)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    done = []
    for n, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=p)
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    fin = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": done})
    check(s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts), f"{bucket}: multipart round trip")
    if not bucket.endswith("--x-s3"):
        want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-2"
        check(fin["ETag"].strip('"') == want, f"{bucket}: multipart ETag")

    all_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in all_keys]})
    check(len(res.get("Deleted", [])) == len(all_keys), f"{bucket}: delete_objects")
    check(s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0, f"{bucket}: bucket empty")
    s3.delete_bucket(Bucket=bucket)
    check(True, f"{bucket}: deleted")


def main():
    print(f"boto3 {boto3.__version__}")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    gp = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                      config=Config(s3={"addressing_style": "path"}))
    exercise(gp, "boto3-gp", {})
    # Directory buckets: boto3 runs CreateSession itself for --x-s3 names.
    exercise(gp, "boto3--use1-az4--x-s3", {
        "CreateBucketConfiguration": {
            "Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
            "Bucket": {"Type": "Directory", "DataRedundancy": "SingleAvailabilityZone"},
        }
    })
    print("boto3 check passed")


if __name__ == "__main__":
    main()
