"""The asynchronous client: AsyncClient mirrors Client method for method (``await`` each call).

    >>> from pyehsm.client import AsyncClient
    >>> async with await AsyncClient.enroll("http://127.0.0.1:9000/ehsm") as c:
    ...     keyid = await c.create_key("EH_AES_GCM_256")
    ...     await c.decrypt(keyid, await c.encrypt(keyid, b"hello"))
    b'hello'

Retries, timeouts and errors behave exactly as in :class:`pyehsm.client.Client`.
"""

from __future__ import annotations

import asyncio
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
from pyehsm.client.errors import EhsmConnectionError
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


class AsyncClient(BaseClient):
    def __init__(
        self,
        base_url: str,
        appid: str = "",
        apikey: str = "",
        *,
        clock: Clock | None = None,
        timeout: float | httpx.Timeout = 30.0,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
    ) -> None:
        """``base_url`` ends in /ehsm; see :class:`pyehsm.client.Client` for the options.

        >>> c = AsyncClient("http://127.0.0.1:9000/ehsm", appid, apikey, timeout=5)
        """
        super().__init__(base_url, appid, apikey, clock=clock, retry=retry)
        self._http = http or httpx.AsyncClient(timeout=timeout, verify=tls_verify(verify))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- transport --------------------------------------------------------------------------------
    async def _send(self, method: str, url: str, build: Any, idempotent: bool, policy: RetryPolicy) -> Response:
        attempt = 0
        while True:
            content, headers = build(attempt)
            try:
                resp = await self._http.request(method, url, content=content, headers=headers)
            except httpx.HTTPError as exc:
                if attempt >= policy.retries or not may_retry(exc, idempotent):
                    raise EhsmConnectionError(f"cannot reach {self.base_url}: {type(exc).__name__}") from exc
                await asyncio.sleep(policy.delay(attempt))
                attempt += 1
                continue
            return parse_response(resp.status_code, resp.content)

    async def post_raw(self, action: str, body: bytes | dict[str, Any]) -> Response:
        """POST a prepared body (bytes or an envelope dict) as is and parse the answer envelope.

        Re-sent only when the first try never left this machine.

            >>> (await c.post_raw("ListKey", c.envelope(None))).code
            200
        """
        content = body if isinstance(body, bytes) else msgspec.json.encode(body)
        return await self._send(
            "POST", self._post_url(action), lambda _: (content, JSON_HEADERS), idempotent=False, policy=self.retry
        )

    async def request(self, action: str, payload: dict[str, Any] | None = None) -> Response:
        """Sign and send one request (re-signed on each retry); never raises for an error code.

        >>> (await c.request("DeleteKey", {"keyid": "nope"})).message
        'keyid error'
        """
        return await self._send(
            "POST",
            self._post_url(action),
            lambda attempt: (self._attempt_body(payload, attempt), JSON_HEADERS),
            idempotent=action in ops.IDEMPOTENT_ACTIONS,
            policy=self.retry,
        )

    async def call(self, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sign and send one request; return ``result`` or raise the matching EhsmApiError subclass.

        >>> (await c.call("GetPublicKey", {"keyid": keyid}))["pubkey"][:26]
        '-----BEGIN PUBLIC KEY-----'
        """
        return (await self.request(action, payload)).raise_for_code()

    async def get(self, action: str, headers: dict[str, str] | None = None) -> Response:
        """An unsigned GET (GetVersion, Enroll).

        >>> (await c.get("GetVersion")).result["version"]
        '0.1.0'
        """
        return await self._send(
            "GET", self._get_url(action), lambda _: (None, headers or {}), action in ops.IDEMPOTENT_ACTIONS, self.retry
        )

    async def run(self, call: ops.Call[T]) -> T:
        """Send a prepared :class:`pyehsm.client.operations.Call` and parse its result.

        >>> await c.run(ops.list_key())
        [KeyInfo(keyid='...', ...)]
        """
        return call.parse(await self.call(call.action, call.payload))

    # -- apps -------------------------------------------------------------------------------------
    @classmethod
    async def enroll(cls, base_url: str, *, admin_token: str | None = None, **kwargs: Any) -> AsyncClient:
        """Enroll a new app (Enroll) and return an AsyncClient holding its credentials.

        Never retried once sent (a second Enroll would create a second app).

            >>> c = await AsyncClient.enroll("http://127.0.0.1:9000/ehsm", admin_token=None)
        """
        client = cls(base_url, **kwargs)
        headers = {ADMIN_TOKEN_HEADER: admin_token} if admin_token else None
        result = (await client.get("Enroll", headers)).raise_for_code()
        client.appid, client.apikey = str(result["appid"]), str(result["apikey"])
        return client

    async def get_version(self) -> VersionInfo:
        """GetVersion: the server's version and build id.

        >>> (await c.get_version()).version
        '0.1.0'
        """
        return VersionInfo.from_result((await self.get("GetVersion")).raise_for_code())

    # -- keys -------------------------------------------------------------------------------------
    async def create_key(self, keyspec: str, origin: str = "EH_INTERNAL_KEY", keyusage: str | None = None) -> str:
        """CreateKey: a new CMK; returns its keyid.

        >>> keyid = await c.create_key("EH_EC_P256", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
        """
        return await self.run(ops.create_key(keyspec, origin, keyusage))

    async def list_key(self) -> list[KeyInfo]:
        """ListKey: the calling app's keys, typed.

        >>> [k.keyid for k in await c.list_key() if k.enabled]
        """
        return await self.run(ops.list_key())

    async def list_keys(self) -> list[dict[str, Any]]:
        """ListKey as plain dicts (wire field names).

        >>> {k["keyid"] for k in await c.list_keys()}
        """
        return [dict(k.raw) for k in await self.list_key()]

    async def enable_key(self, keyid: str) -> None:
        """EnableKey (idempotent).

        >>> await c.enable_key(keyid)
        """
        await self.run(ops.enable_key(keyid))

    async def disable_key(self, keyid: str) -> None:
        """DisableKey (idempotent): the key refuses every operation until enabled.

        >>> await c.disable_key(keyid)
        """
        await self.run(ops.disable_key(keyid))

    async def delete_key(self, keyid: str) -> None:
        """DeleteKey: deletes the key and its material for good.

        >>> await c.delete_key(keyid)
        """
        await self.run(ops.delete_key(keyid))

    async def delete_all_key(self) -> None:
        """DeleteAllKey: deletes every key of the calling app.

        >>> await c.delete_all_key()
        """
        await self.run(ops.delete_all_key())

    async def delete_all_keys(self) -> None:
        """Same as :meth:`delete_all_key`.

        >>> await c.delete_all_keys()
        """
        await self.delete_all_key()

    async def get_public_key(self, keyid: str) -> str:
        """GetPublicKey: the PEM SubjectPublicKeyInfo of an asymmetric key.

        >>> pem = await c.get_public_key(keyid)
        """
        return await self.run(ops.get_public_key(keyid))

    # -- symmetric crypto and data keys --------------------------------------------------------------
    async def encrypt(self, keyid: str, plaintext: bytes, aad: bytes | None = None) -> bytes:
        """Encrypt up to 6144 bytes under a symmetric CMK; ``aad`` must be given again to decrypt.

        >>> ct = await c.encrypt(keyid, b"secret", aad=b"context")
        """
        return await self.run(ops.encrypt(keyid, plaintext, aad))

    async def decrypt(self, keyid: str, ciphertext: bytes, aad: bytes | None = None) -> bytes:
        """Decrypt a ciphertext made by :meth:`encrypt` with the same key and aad.

        >>> await c.decrypt(keyid, ct, aad=b"context")
        b'secret'
        """
        return await self.run(ops.decrypt(keyid, ciphertext, aad))

    async def generate_data_key(self, keyid: str, keylen: int, aad: bytes | None = None) -> DataKey:
        """GenerateDataKey: a fresh random data key (``keylen`` bytes) and its ciphertext under the CMK.

        >>> plaintext_key, wrapped = await c.generate_data_key(keyid, 32)
        """
        return await self.run(ops.generate_data_key(keyid, keylen, aad))

    async def generate_data_key_without_plaintext(self, keyid: str, keylen: int, aad: bytes | None = None) -> bytes:
        """GenerateDataKeyWithoutPlaintext: only the data key's ciphertext (decrypt it when needed).

        >>> wrapped = await c.generate_data_key_without_plaintext(keyid, 32)
        """
        return await self.run(ops.generate_data_key_without_plaintext(keyid, keylen, aad))

    async def export_data_key(
        self,
        keyid: str,
        ukeyid: str,
        olddatakey: bytes,
        aad: bytes | None = None,
        padding_mode: str | None = None,
    ) -> bytes:
        """ExportDataKey: re-encrypt a data key wrapped by ``keyid`` under the public key ``ukeyid``.

        >>> exported = await c.export_data_key(keyid, rsa_keyid, wrapped, padding_mode="EH_RSA_PKCS1_OAEP")
        """
        return await self.run(ops.export_data_key(keyid, ukeyid, olddatakey, aad, padding_mode))

    # -- asymmetric crypto ------------------------------------------------------------------------
    async def asymmetric_encrypt(
        self, keyid: str, plaintext: bytes, padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING
    ) -> bytes:
        """AsymmetricEncrypt with an RSA or SM2 key (``padding_mode`` is ignored for SM2).

        >>> ct = await c.asymmetric_encrypt(rsa_keyid, b"hi", "EH_RSA_PKCS1_OAEP")
        """
        return await self.run(ops.asymmetric_encrypt(keyid, plaintext, padding_mode))

    async def asymmetric_decrypt(
        self, keyid: str, ciphertext: bytes, padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING
    ) -> bytes:
        """AsymmetricDecrypt, the inverse of :meth:`asymmetric_encrypt`.

        >>> await c.asymmetric_decrypt(rsa_keyid, ct, "EH_RSA_PKCS1_OAEP")
        b'hi'
        """
        return await self.run(ops.asymmetric_decrypt(keyid, ciphertext, padding_mode))

    async def sign(
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

            >>> sig = await c.sign(ec_keyid, b"msg", "EH_SHA_256")
        """
        return await self.run(ops.sign(keyid, message, digest_mode, padding_mode, message_type))

    async def verify(
        self,
        keyid: str,
        message: bytes,
        signature: bytes,
        digest_mode: str | None = ops.DEFAULT_DIGEST,
        padding_mode: str = ops.DEFAULT_SIGN_PADDING,
        message_type: str = ops.DEFAULT_MESSAGE_TYPE,
    ) -> bool:
        """Verify: False for a signature that does not verify (errors only for malformed input).

        >>> await c.verify(ec_keyid, b"msg", sig, "EH_SHA_256")
        True
        """
        return await self.run(ops.verify(keyid, message, signature, digest_mode, padding_mode, message_type))

    # -- BYOK -------------------------------------------------------------------------------------
    async def get_parameters_for_import(self, keyid: str, keyspec: str = "EH_RSA_3072") -> ImportParameters:
        """GetParametersForImport: a wrapping public key and token for an EH_EXTERNAL_KEY.

        >>> params = await c.get_parameters_for_import(keyid, "EH_RSA_3072")
        """
        return await self.run(ops.get_parameters_for_import(keyid, keyspec))

    async def import_key_material(
        self,
        keyid: str,
        key_material: bytes,
        import_token: str,
        padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING,
    ) -> bool:
        """ImportKeyMaterial: ``key_material`` is the key encrypted under the import public key.

        >>> await c.import_key_material(keyid, wrapped_key, params.import_token, "EH_RSA_PKCS1_OAEP")
        True
        """
        return await self.run(ops.import_key_material(keyid, key_material, import_token, padding_mode))

    # -- remote attestation -----------------------------------------------------------------------
    async def generate_quote(self, challenge: bytes) -> Quote:
        """GenerateQuote: a quote of the server's enclave/TD over ``challenge``.

        >>> quote = (await c.generate_quote(b"fresh challenge")).quote
        """
        return await self.run(ops.generate_quote(challenge))

    async def verify_quote(self, quote: bytes, nonce: bytes, policy_id: str | None = None) -> QuoteVerification:
        """VerifyQuote; the answer's HMAC and nonce echo are checked (ResponseSignatureError if not).

        >>> (await c.verify_quote(quote, b"nonce", policy_id)).valid
        True
        """
        return await self.run(ops.verify_quote(quote, nonce, self.apikey, policy_id))

    async def upload_quote_policy(self, mr_enclave: str, mr_signer: str) -> str:
        """UploadQuotePolicy: returns the new policyId.

        >>> policy_id = await c.upload_quote_policy("ab" * 32, "cd" * 32)
        """
        return await self.run(ops.upload_quote_policy(mr_enclave, mr_signer))

    async def get_quote_policy(self, policy_id: str) -> QuotePolicy:
        """GetQuotePolicy.

        >>> (await c.get_quote_policy(policy_id)).mr_enclave
        """
        return await self.run(ops.get_quote_policy(policy_id))

    # -- secrets ----------------------------------------------------------------------------------
    async def create_secret(
        self,
        secret_name: str,
        secret_data: str,
        encryption_key_id: str | None = None,
        description: str | None = None,
        rotation_interval: str | None = None,
    ) -> None:
        """CreateSecret: a named secret with its first version.

        >>> await c.create_secret("db-password", "s3cr3t", description="prod db", rotation_interval="30d")
        """
        await self.run(ops.create_secret(secret_name, secret_data, encryption_key_id, description, rotation_interval))

    async def update_secret_desc(self, secret_name: str, description: str | None = None) -> None:
        """UpdateSecretDesc.

        >>> await c.update_secret_desc("db-password", "rotated monthly")
        """
        await self.run(ops.update_secret_desc(secret_name, description))

    async def put_secret_value(self, secret_name: str, secret_data: str) -> None:
        """PutSecretValue: stores a new version.

        >>> await c.put_secret_value("db-password", "n3w")
        """
        await self.run(ops.put_secret_value(secret_name, secret_data))

    async def list_secret_version_ids(self, secret_name: str) -> SecretVersions:
        """ListSecretVersionIds.

        >>> sorted(v.version_id for v in (await c.list_secret_version_ids("db-password")).versions)
        [1, 2]
        """
        return await self.run(ops.list_secret_version_ids(secret_name))

    async def list_secrets(self, secret_name: str | None = None) -> SecretList:
        """ListSecrets (optionally only ``secret_name``).

        >>> [s.secret_name for s in (await c.list_secrets()).secrets]
        """
        return await self.run(ops.list_secrets(secret_name))

    async def describe_secret(self, secret_name: str) -> SecretDescription:
        """DescribeSecret: metadata, never the value.

        >>> (await c.describe_secret("db-password")).rotation_interval
        '30d'
        """
        return await self.run(ops.describe_secret(secret_name))

    async def delete_secret(
        self, secret_name: str, recovery_period: int | None = None, force_delete: bool | None = None
    ) -> None:
        """DeleteSecret: scheduled after ``recovery_period`` days (restorable until then) or at once.

        >>> await c.delete_secret("db-password", recovery_period=7)
        """
        await self.run(ops.delete_secret(secret_name, recovery_period, force_delete))

    async def get_secret_value(self, secret_name: str, version_id: int | None = None) -> SecretValue:
        """GetSecretValue (latest version unless ``version_id``).

        >>> (await c.get_secret_value("db-password")).secret_data
        'n3w'
        """
        return await self.run(ops.get_secret_value(secret_name, version_id))

    async def restore_secret(self, secret_name: str) -> None:
        """RestoreSecret: cancels a scheduled deletion.

        >>> await c.restore_secret("db-password")
        """
        await self.run(ops.restore_secret(secret_name))
