"""boto3 KMS clients for the AWS KMS door of a test server (credentials: the app's appid and apikey)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)


def kms(url: str, appid: str, apikey: str, region: str = "us-east-1", *, validate: bool = True) -> Any:
    """``validate=False``: boto3 sends out-of-range values as they are, so the server's own checks answer."""
    return boto3.client(
        "kms",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=appid,
        aws_secret_access_key=apikey,
        config=NO_RETRIES if validate else NO_RETRIES.merge(Config(parameter_validation=False)),
    )
