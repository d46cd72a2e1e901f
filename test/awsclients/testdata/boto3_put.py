"""Uploads one file with boto3's put_object (a single PutObject, no
multipart), through HTTPS_PROXY, trusting AWS_CA_BUNDLE, with the (dummy)
keys in the environment; ALTER_GRANT names the grant.

    python3 boto3_put.py FILE BUCKET KEY
"""
import os
import sys

import boto3

s3 = boto3.client("s3", region_name="us-east-1")
s3.meta.events.register(
    "before-send.s3", lambda request, **kwargs: request.headers.__setitem__("X-Alter-Grant", os.environ["ALTER_GRANT"]))
with open(sys.argv[1], "rb") as f:
    out = s3.put_object(Bucket=sys.argv[2], Key=sys.argv[3], Body=f)
print(out["ETag"])
