"""The synchronous client: one typed method per eHSM Action, signed exactly as the official SDKs do.

    >>> from pyehsm.client import Client
    >>> c = Client.enroll("http://127.0.0.1:9000/ehsm")
    >>> keyid = c.create_key("EH_AES_GCM_256")
    >>> c.decrypt(keyid, c.encrypt(keyid, b"hello")) == b"hello"
    True

Errors raise a subclass of :class:`EhsmApiError` (see :mod:`pyehsm.client.errors`); a server that
cannot be reached raises :class:`EhsmConnectionError` after the retries :class:`RetryPolicy` allows.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

import httpx
import msgspec

from pyehsm.client import operations as ops
from pyehsm.client.base import (
    ADMIN_TOKEN_HEADER,
    JSON_HEADERS,
    BaseClient,
    RetryPolicy,
    may_retry,
    parse_response,
    tls_verify,
)
from pyehsm.client.errors import EhsmApiError, EhsmConnectionError
from pyehsm.client.models import (
    DataKey,
    ImportParameters,
    KeyInfo,
    Quote,
    QuotePolicy,
    QuoteVerification,
    Response,
    SecretDescription,
    SecretList,
    SecretValue,
    SecretVersions,
    VersionInfo,
)
from pyehsm.clock import Clock

T = TypeVar("T")

__all__ = ["Client", "EhsmApiError", "Response"]


class Client(BaseClient):
    def __init__(
        self,
        base_url: str,
        appid: str = "",
        apikey: str = "",
        *,
        clock: Clock | None = None,
        timeout: float | httpx.Timeout = 30.0,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
    ) -> None:
        """``base_url`` ends in /ehsm, e.g. http://127.0.0.1:9000/ehsm.

        ``timeout`` applies to each attempt; ``verify`` is True, False or a CA bundle path (HTTPS).

            >>> c = Client("https://kms.example:9000/ehsm", appid, apikey, timeout=5, verify="ca.pem")
        """
        super().__init__(base_url, appid, apikey, clock=clock, retry=retry)
        self._http = http or httpx.Client(timeout=timeout, verify=tls_verify(verify))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------------
    def _send(self, method: str, url: str, build: Any, idempotent: bool, policy: RetryPolicy) -> Response:
        attempt = 0
        while True:
            content, headers = build(attempt)
            try:
                resp = self._http.request(method, url, content=content, headers=headers)
            except httpx.HTTPError as exc:
                if attempt >= policy.retries or not may_retry(exc, idempotent):
                    raise EhsmConnectionError(f"cannot reach {self.base_url}: {type(exc).__name__}") from exc
                time.sleep(policy.delay(attempt))
                attempt += 1
                continue
            return parse_response(resp.status_code, resp.content)

    def post_raw(self, action: str, body: bytes | dict[str, Any]) -> Response:
        """POST a prepared body (bytes or an envelope dict) as is and parse the answer envelope.

        Re-sent only when the first try never left this machine.

            >>> c.post_raw("ListKey", c.envelope(None)).code
            200
        """
        content = body if isinstance(body, bytes) else msgspec.json.encode(body)
        return self._send(
            "POST", self._post_url(action), lambda _: (content, JSON_HEADERS), idempotent=False, policy=self.retry
        )

    def request(self, action: str, payload: dict[str, Any] | None = None) -> Response:
        """Sign and send one request (re-signed on each retry); never raises for an error code.

        >>> c.request("DeleteKey", {"keyid": "nope"}).message
        'keyid error'
        """
        return self._send(
            "POST",
            self._post_url(action),
            lambda attempt: (self._attempt_body(payload, attempt), JSON_HEADERS),
            idempotent=action in ops.IDEMPOTENT_ACTIONS,
            policy=self.retry,
        )

    def call(self, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sign and send one request; return ``result`` or raise the matching EhsmApiError subclass.

        >>> c.call("GetPublicKey", {"keyid": keyid})["pubkey"][:26]
        '-----BEGIN PUBLIC KEY-----'
        """
        return self.request(action, payload).raise_for_code()

    def get(self, action: str, headers: dict[str, str] | None = None) -> Response:
        """An unsigned GET (GetVersion, Enroll).

        >>> c.get("GetVersion").result["version"]
        '0.1.0'
        """
        return self._send(
            "GET", self._get_url(action), lambda _: (None, headers or {}), action in ops.IDEMPOTENT_ACTIONS, self.retry
        )

    def run(self, call: ops.Call[T]) -> T:
        """Send a prepared :class:`pyehsm.client.operations.Call` and parse its result.

        >>> c.run(ops.list_key())
        [KeyInfo(keyid='...', ...)]
        """
        return call.parse(self.call(call.action, call.payload))

    # -- apps -------------------------------------------------------------------------------------
    @classmethod
    def enroll(cls, base_url: str, *, admin_token: str | None = None, **kwargs: Any) -> Client:
        """Enroll a new app (Enroll) and return a client holding its credentials.

        Never retried once sent (a second Enroll would create a second app).

            >>> c = Client.enroll("http://127.0.0.1:9000/ehsm", admin_token=None)
        """
        client = cls(base_url, **kwargs)
        headers = {ADMIN_TOKEN_HEADER: admin_token} if admin_token else None
        result = client.get("Enroll", headers).raise_for_code()
        client.appid, client.apikey = str(result["appid"]), str(result["apikey"])
        return client

    def get_version(self) -> VersionInfo:
        """GetVersion: the server's version and build id.

        >>> c.get_version().version
        '0.1.0'
        """
        return VersionInfo.from_result(self.get("GetVersion").raise_for_code())

    # -- keys -------------------------------------------------------------------------------------
    def create_key(self, keyspec: str, origin: str = "EH_INTERNAL_KEY", keyusage: str | None = None) -> str:
        """CreateKey: a new CMK; returns its keyid.

        >>> keyid = c.create_key("EH_EC_P256", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
        """
        return self.run(ops.create_key(keyspec, origin, keyusage))

    def list_key(self) -> list[KeyInfo]:
        """ListKey: the calling app's keys, typed.

        >>> [k.keyid for k in c.list_key() if k.enabled]
        """
        return self.run(ops.list_key())

    def list_keys(self) -> list[dict[str, Any]]:
        """ListKey as plain dicts (wire field names).

        >>> {k["keyid"] for k in c.list_keys()}
        """
        return [dict(k.raw) for k in self.list_key()]

    def enable_key(self, keyid: str) -> None:
        """EnableKey (idempotent).

        >>> c.enable_key(keyid)
        """
        self.run(ops.enable_key(keyid))

    def disable_key(self, keyid: str) -> None:
        """DisableKey (idempotent): the key refuses every operation until enabled.

        >>> c.disable_key(keyid)
        """
        self.run(ops.disable_key(keyid))

    def delete_key(self, keyid: str) -> None:
        """DeleteKey: deletes the key and its material for good.

        >>> c.delete_key(keyid)
        """
        self.run(ops.delete_key(keyid))

    def delete_all_key(self) -> None:
        """DeleteAllKey: deletes every key of the calling app.

        >>> c.delete_all_key()
        """
        self.run(ops.delete_all_key())

    def delete_all_keys(self) -> None:
        """Same as :meth:`delete_all_key`.

        >>> c.delete_all_keys()
        """
        self.delete_all_key()

    def get_public_key(self, keyid: str) -> str:
        """GetPublicKey: the PEM SubjectPublicKeyInfo of an asymmetric key.

        >>> pem = c.get_public_key(keyid)
        """
        return self.run(ops.get_public_key(keyid))

    # -- symmetric crypto and data keys --------------------------------------------------------------
    def encrypt(self, keyid: str, plaintext: bytes, aad: bytes | None = None) -> bytes:
        """Encrypt up to 6144 bytes under a symmetric CMK; ``aad`` must be given again to decrypt.

        >>> ct = c.encrypt(keyid, b"secret", aad=b"context")
        """
        return self.run(ops.encrypt(keyid, plaintext, aad))

    def decrypt(self, keyid: str, ciphertext: bytes, aad: bytes | None = None) -> bytes:
        """Decrypt a ciphertext made by :meth:`encrypt` with the same key and aad.

        >>> c.decrypt(keyid, ct, aad=b"context")
        b'secret'
        """
        return self.run(ops.decrypt(keyid, ciphertext, aad))

    def generate_data_key(self, keyid: str, keylen: int, aad: bytes | None = None) -> DataKey:
        """GenerateDataKey: a fresh random data key (``keylen`` bytes) and its ciphertext under the CMK.

        >>> plaintext_key, wrapped = c.generate_data_key(keyid, 32)
        """
        return self.run(ops.generate_data_key(keyid, keylen, aad))

    def generate_data_key_without_plaintext(self, keyid: str, keylen: int, aad: bytes | None = None) -> bytes:
        """GenerateDataKeyWithoutPlaintext: only the data key's ciphertext (decrypt it when needed).

        >>> wrapped = c.generate_data_key_without_plaintext(keyid, 32)
        """
        return self.run(ops.generate_data_key_without_plaintext(keyid, keylen, aad))

    def export_data_key(
        self,
        keyid: str,
        ukeyid: str,
        olddatakey: bytes,
        aad: bytes | None = None,
        padding_mode: str | None = None,
    ) -> bytes:
        """ExportDataKey: re-encrypt a data key wrapped by ``keyid`` under the public key ``ukeyid``.

        >>> exported = c.export_data_key(keyid, rsa_keyid, wrapped, padding_mode="EH_RSA_PKCS1_OAEP")
        """
        return self.run(ops.export_data_key(keyid, ukeyid, olddatakey, aad, padding_mode))

    # -- asymmetric crypto ------------------------------------------------------------------------
    def asymmetric_encrypt(
        self, keyid: str, plaintext: bytes, padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING
    ) -> bytes:
        """AsymmetricEncrypt with an RSA or SM2 key (``padding_mode`` is ignored for SM2).

        >>> ct = c.asymmetric_encrypt(rsa_keyid, b"hi", "EH_RSA_PKCS1_OAEP")
        """
        return self.run(ops.asymmetric_encrypt(keyid, plaintext, padding_mode))

    def asymmetric_decrypt(
        self, keyid: str, ciphertext: bytes, padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING
    ) -> bytes:
        """AsymmetricDecrypt, the inverse of :meth:`asymmetric_encrypt`.

        >>> c.asymmetric_decrypt(rsa_keyid, ct, "EH_RSA_PKCS1_OAEP")
        b'hi'
        """
        return self.run(ops.asymmetric_decrypt(keyid, ciphertext, padding_mode))

    def sign(
        self,
        keyid: str,
        message: bytes,
        digest_mode: str | None = ops.DEFAULT_DIGEST,
        padding_mode: str = ops.DEFAULT_SIGN_PADDING,
        message_type: str = ops.DEFAULT_MESSAGE_TYPE,
    ) -> bytes:
        """Sign a message (EH_RAW) or a digest (EH_DIGEST); ECDSA/SM2 signatures are DER.

        ``digest_mode`` None leaves the choice to the server (pyehsm: EH_SM3 for SM2, else EH_SHA_256);
        Intel's server needs it given.

            >>> sig = c.sign(ec_keyid, b"msg", "EH_SHA_256")
        """
        return self.run(ops.sign(keyid, message, digest_mode, padding_mode, message_type))

    def verify(
        self,
        keyid: str,
        message: bytes,
        signature: bytes,
        digest_mode: str | None = ops.DEFAULT_DIGEST,
        padding_mode: str = ops.DEFAULT_SIGN_PADDING,
        message_type: str = ops.DEFAULT_MESSAGE_TYPE,
    ) -> bool:
        """Verify: False for a signature that does not verify (errors only for malformed input).

        >>> c.verify(ec_keyid, b"msg", sig, "EH_SHA_256")
        True
        """
        return self.run(ops.verify(keyid, message, signature, digest_mode, padding_mode, message_type))

    # -- BYOK -------------------------------------------------------------------------------------
    def get_parameters_for_import(self, keyid: str, keyspec: str = "EH_RSA_3072") -> ImportParameters:
        """GetParametersForImport: a wrapping public key and token for an EH_EXTERNAL_KEY.

        >>> params = c.get_parameters_for_import(keyid, "EH_RSA_3072")
        """
        return self.run(ops.get_parameters_for_import(keyid, keyspec))

    def import_key_material(
        self,
        keyid: str,
        key_material: bytes,
        import_token: str,
        padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING,
    ) -> bool:
        """ImportKeyMaterial: ``key_material`` is the key encrypted under the import public key.

        >>> c.import_key_material(keyid, wrapped_key, params.import_token, "EH_RSA_PKCS1_OAEP")
        True
        """
        return self.run(ops.import_key_material(keyid, key_material, import_token, padding_mode))

    # -- remote attestation -----------------------------------------------------------------------
    def generate_quote(self, challenge: bytes) -> Quote:
        """GenerateQuote: a quote of the server's enclave/TD over ``challenge``.

        >>> quote = c.generate_quote(b"fresh challenge").quote
        """
        return self.run(ops.generate_quote(challenge))

    def verify_quote(self, quote: bytes, nonce: bytes, policy_id: str | None = None) -> QuoteVerification:
        """VerifyQuote; the answer's HMAC and nonce echo are checked (ResponseSignatureError if not).

        >>> c.verify_quote(quote, b"nonce", policy_id).valid
        True
        """
        return self.run(ops.verify_quote(quote, nonce, self.apikey, policy_id))

    def upload_quote_policy(self, mr_enclave: str, mr_signer: str) -> str:
        """UploadQuotePolicy: returns the new policyId.

        >>> policy_id = c.upload_quote_policy("ab" * 32, "cd" * 32)
        """
        return self.run(ops.upload_quote_policy(mr_enclave, mr_signer))

    def get_quote_policy(self, policy_id: str) -> QuotePolicy:
        """GetQuotePolicy.

        >>> c.get_quote_policy(policy_id).mr_enclave
        """
        return self.run(ops.get_quote_policy(policy_id))

    # -- secrets ----------------------------------------------------------------------------------
    def create_secret(
        self,
        secret_name: str,
        secret_data: str,
        encryption_key_id: str | None = None,
        description: str | None = None,
        rotation_interval: str | None = None,
    ) -> None:
        """CreateSecret: a named secret with its first version.

        >>> c.create_secret("db-password", "s3cr3t", description="prod db", rotation_interval="30d")
        """
        self.run(ops.create_secret(secret_name, secret_data, encryption_key_id, description, rotation_interval))

    def update_secret_desc(self, secret_name: str, description: str | None = None) -> None:
        """UpdateSecretDesc.

        >>> c.update_secret_desc("db-password", "rotated monthly")
        """
        self.run(ops.update_secret_desc(secret_name, description))

    def put_secret_value(self, secret_name: str, secret_data: str) -> None:
        """PutSecretValue: stores a new version.

        >>> c.put_secret_value("db-password", "n3w")
        """
        self.run(ops.put_secret_value(secret_name, secret_data))

    def list_secret_version_ids(self, secret_name: str) -> SecretVersions:
        """ListSecretVersionIds.

        >>> sorted(v.version_id for v in c.list_secret_version_ids("db-password").versions)
        [1, 2]
        """
        return self.run(ops.list_secret_version_ids(secret_name))

    def list_secrets(self, secret_name: str | None = None) -> SecretList:
        """ListSecrets (optionally only ``secret_name``).

        >>> [s.secret_name for s in c.list_secrets().secrets]
        """
        return self.run(ops.list_secrets(secret_name))

    def describe_secret(self, secret_name: str) -> SecretDescription:
        """DescribeSecret: metadata, never the value.

        >>> c.describe_secret("db-password").rotation_interval
        '30d'
        """
        return self.run(ops.describe_secret(secret_name))

    def delete_secret(
        self, secret_name: str, recovery_period: int | None = None, force_delete: bool | None = None
    ) -> None:
        """DeleteSecret: scheduled after ``recovery_period`` days (restorable until then) or at once.

        >>> c.delete_secret("db-password", recovery_period=7)
        """
        self.run(ops.delete_secret(secret_name, recovery_period, force_delete))

    def get_secret_value(self, secret_name: str, version_id: int | None = None) -> SecretValue:
        """GetSecretValue (latest version unless ``version_id``).

        >>> c.get_secret_value("db-password").secret_data
        'n3w'
        """
        return self.run(ops.get_secret_value(secret_name, version_id))

    def restore_secret(self, secret_name: str) -> None:
        """RestoreSecret: cancels a scheduled deletion.

        >>> c.restore_secret("db-password")
        """
        self.run(ops.restore_secret(secret_name))
