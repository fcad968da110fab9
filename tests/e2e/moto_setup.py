"""Prepares moto (a real S3 implementation, in server mode) for the browser end-to-end tests: a bucket whose CORS
rules let the page read objects (exposing ETag, Content-Range and Content-Length, as the README asks of a real
bucket), one JSON Lines object taken from the sandbox, and a SigV4-presigned GET URL for it, printed on stdout.

Usage: moto_setup.py <moto endpoint> <site origin> <object source URL>
"""

import sys
import urllib.request

import boto3
from botocore.config import Config

endpoint, origin, source = sys.argv[1:4]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
    config=Config(signature_version="s3v4"),
)
s3.create_bucket(Bucket="exports")
s3.put_bucket_cors(
    Bucket="exports",
    CORSConfiguration={
        "CORSRules": [
            {
                "AllowedOrigins": [origin],
                "AllowedMethods": ["GET", "HEAD"],
                "AllowedHeaders": ["Range", "If-Match"],
                "ExposeHeaders": ["ETag", "Content-Range", "Content-Length"],
            }
        ]
    },
)
with urllib.request.urlopen(source) as response:
    s3.put_object(Bucket="exports", Key="daily/events.jsonl", Body=response.read())
print(
    s3.generate_presigned_url(
        "get_object", Params={"Bucket": "exports", "Key": "daily/events.jsonl"}, ExpiresIn=3600
    )
)
