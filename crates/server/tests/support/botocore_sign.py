"""Signs requests with botocore's SigV4Auth, the signer the AWS CLI and SDK for Python use, for
crates/server/tests/sigv4_botocore.rs to compare Sluice's signatures with.

Reads a JSON list of requests on stdin ({method, url, headers, body, access_key, secret_key, token, region,
service, time}: time in seconds since the Unix epoch) and writes, for each, the headers botocore set, lowercased.
"""

import datetime
import hashlib
import json
import sys
from unittest import mock

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def signed_headers(case):
    body = case["body"].encode()
    headers = dict(case["headers"])
    # Sluice always sends the payload hash (OpenSearch Serverless requires it); botocore signs it when present.
    headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    request = AWSRequest(method=case["method"], url=case["url"], data=body, headers=headers)
    credentials = Credentials(case["access_key"], case["secret_key"], case.get("token"))
    when = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        SigV4Auth(credentials, case["service"], case["region"]).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


json.dump([signed_headers(case) for case in json.load(sys.stdin)], sys.stdout)
