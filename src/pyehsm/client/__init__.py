"""Python SDK for pyehsm (and any eHSM-KMS compatible server): Client (sync) and AsyncClient.

>>> from pyehsm.client import Client
>>> with Client.enroll("http://127.0.0.1:9000/ehsm") as c:
...     keyid = c.create_key("EH_AES_GCM_256")
...     c.decrypt(keyid, c.encrypt(keyid, b"hi"))
b'hi'
"""

from pyehsm.client.aio import AsyncClient
from pyehsm.client.base import RetryPolicy
from pyehsm.client.errors import (
    ApiNotFoundError,
    AuthError,
    ClientError,
    CryptoError,
    EhsmApiError,
    EhsmConnectionError,
    EnrollError,
    NotFoundError,
    ParamError,
    ProtocolError,
    RateLimitError,
    ResponseSignatureError,
    ServerError,
    StateError,
)
from pyehsm.client.models import (
    AliasInfo,
    AliasPage,
    BatchItem,
    DataKey,
    Encapsulation,
    ImportParameters,
    KeyDescription,
    KeyInfo,
    KeyPage,
    Quote,
    QuotePolicy,
    QuoteVerification,
    Response,
    SecretDescription,
    SecretList,
    SecretSummary,
    SecretValue,
    SecretVersion,
    SecretVersions,
    VersionInfo,
)
from pyehsm.client.sync import Client

__all__ = [
    "AliasInfo",
    "AliasPage",
    "ApiNotFoundError",
    "AsyncClient",
    "AuthError",
    "BatchItem",
    "Client",
    "ClientError",
    "CryptoError",
    "DataKey",
    "EhsmApiError",
    "EhsmConnectionError",
    "Encapsulation",
    "EnrollError",
    "ImportParameters",
    "KeyDescription",
    "KeyInfo",
    "KeyPage",
    "NotFoundError",
    "ParamError",
    "ProtocolError",
    "Quote",
    "QuotePolicy",
    "QuoteVerification",
    "RateLimitError",
    "Response",
    "ResponseSignatureError",
    "RetryPolicy",
    "SecretDescription",
    "SecretList",
    "SecretSummary",
    "SecretValue",
    "SecretVersion",
    "SecretVersions",
    "ServerError",
    "StateError",
    "VersionInfo",
]
