"""Every public method of the SDK, written once for both clients.

A method here describes its request as an :class:`~pyehsm.client.base.Exchange` (no I/O); the
:func:`operation` decorator turns it into a method of :class:`pyehsm.client.Client` that returns the
parsed answer, and into a coroutine method of :class:`pyehsm.client.AsyncClient` that does the same.
Each transport implements only ``_perform`` (send, retry, parse), so both clients share one source of
truth for payloads, answers and errors, and type checkers see every method's full signature:

    >>> Client(url, appid, apikey).encrypt       # (keyid: str, plaintext: bytes, aad: bytes | None = ...) -> bytes
    >>> AsyncClient(url, appid, apikey).encrypt  # the same arguments -> Coroutine[Any, Any, bytes]
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from pyehsm.client import operations as ops
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import (
    AliasPage,
    BatchItem,
    DataKey,
    Encapsulation,
    ImportParameters,
    KeyDescription,
    KeyInfo,
    KeyPage,
    KeyRotations,
    KeyVersion,
    Quote,
    QuotePolicy,
    QuoteVerification,
    ReEncrypted,
    Response,
    SecretDescription,
    SecretList,
    SecretValue,
    SecretVersions,
    VersionInfo,
)

P = ParamSpec("P")
T = TypeVar("T")


class operation(Generic[P, T]):
    """Turns ``def name(self, ...) -> Exchange[T]`` into a client method returning ``T`` (Client) or a
    coroutine of ``T`` (AsyncClient), with the same name, arguments and docstring."""

    def __init__(self, describe: Callable[Concatenate[Any, P], Exchange[T]]) -> None:
        self.describe = describe
        self.__name__, self.__qualname__, self.__doc__ = describe.__name__, describe.__qualname__, describe.__doc__
        described = inspect.signature(describe)
        returns = str(described.return_annotation)
        if returns.startswith("Exchange[") and returns.endswith("]"):
            returns = returns[len("Exchange[") : -1]
        self.__signature__ = described.replace(return_annotation=returns)  # Client.encrypt(client, ...)
        self._bound_signature = self.__signature__.replace(parameters=list(described.parameters.values())[1:])

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: AsyncTransport, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, client: SyncTransport, owner: type[Any]) -> Callable[P, T]: ...
    def __get__(self, client: Operations[Any] | None, owner: type[Any]) -> Any:
        return self if client is None else self._bind(client)

    def _bind(self, client: Operations[Any]) -> Callable[..., Any]:
        describe = self.describe
        if isinstance(client, AsyncTransport):
            transport = client

            async def method(*args: P.args, **kwargs: P.kwargs) -> T:
                return await transport._perform(describe(transport, *args, **kwargs))

        elif isinstance(client, SyncTransport):
            sync_transport = client

            def method(*args: P.args, **kwargs: P.kwargs) -> T:  # type: ignore[misc]
                return sync_transport._perform(describe(sync_transport, *args, **kwargs))

        else:
            raise TypeError(f"{type(client).__name__} is neither a sync nor an async transport")
        method.__name__, method.__qualname__, method.__doc__ = self.__name__, self.__qualname__, self.__doc__
        method.__signature__ = self._bound_signature  # type: ignore[attr-defined]
        return method

    @overload
    def __call__(self, client: AsyncTransport, /, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, T]: ...
    @overload
    def __call__(self, client: SyncTransport, /, *args: P.args, **kwargs: P.kwargs) -> T: ...
    def __call__(self, client: Operations[Any], /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """``Client.encrypt(client, ...)``, as with a plain method."""
        return self._bind(client)(*args, **kwargs)


def _plain_dicts(keys: list[KeyInfo]) -> list[dict[str, Any]]:
    return [dict(k.raw) for k in keys]


class Operations(BaseClient[H]):
    """One method per eHSM Action plus the lower-level calls; see :class:`pyehsm.client.Client`."""

    # -- lower level ----------------------------------------------------------------------------------
    @operation
    def post_raw(self, action: str, body: bytes | dict[str, Any]) -> Exchange[Response]:
        """POST a prepared body (bytes or an envelope dict) as is and parse the answer envelope.

        Re-sent only when the first try never left this machine.

            >>> c.post_raw("ListKey", c.envelope(None)).code
            200
        """
        return self._raw(action, body)

    @operation
    def request(self, action: str, payload: dict[str, Any] | None = None) -> Exchange[Response]:
        """Sign and send one request (re-signed on each retry); never raises for an error code.

        >>> c.request("DeleteKey", {"keyid": "nope"}).message
        'keyid error'
        """
        return self._signed(action, payload)

    @operation
    def call(self, action: str, payload: dict[str, Any] | None = None) -> Exchange[dict[str, Any]]:
        """Sign and send one request; return ``result`` or raise the matching EhsmApiError subclass.

        >>> c.call("GetPublicKey", {"keyid": keyid})["pubkey"][:26]
        '-----BEGIN PUBLIC KEY-----'
        """
        return self._signed(action, payload).map(Response.raise_for_code)

    @operation
    def get(self, action: str, headers: dict[str, str] | None = None) -> Exchange[Response]:
        """An unsigned GET (GetVersion, Enroll).

        >>> c.get("GetVersion").result["version"]
        '0.1.0'
        """
        return self._unsigned_get(action, headers)

    @operation
    def run(self, call: ops.Call[T]) -> Exchange[T]:
        """Send a prepared :class:`pyehsm.client.operations.Call` and parse its result.

        >>> c.run(ops.list_key())
        [KeyInfo(keyid='...', ...)]
        """
        return self._exchange(call)

    # -- apps -----------------------------------------------------------------------------------------
    @operation
    def get_version(self) -> Exchange[VersionInfo]:
        """GetVersion: the server's version and build id.

        >>> c.get_version().version
        '0.1.0'
        """
        return self._version()

    # -- keys -------------------------------------------------------------------------------------
    @operation
    def create_key(self, keyspec: str, origin: str = "EH_INTERNAL_KEY", keyusage: str | None = None) -> Exchange[str]:
        """CreateKey: a new CMK; returns its keyid.

        >>> keyid = c.create_key("EH_EC_P256", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
        """
        return self._exchange(ops.create_key(keyspec, origin, keyusage))

    @operation
    def list_key(self) -> Exchange[list[KeyInfo]]:
        """ListKey: the calling app's keys, typed.

        >>> [k.keyid for k in c.list_key() if k.enabled]
        """
        return self._exchange(ops.list_key())

    @operation
    def list_keys(self) -> Exchange[list[dict[str, Any]]]:
        """ListKey as plain dicts (wire field names).

        >>> {k["keyid"] for k in c.list_keys()}
        """
        return self._exchange(ops.list_key()).map(_plain_dicts)

    @operation
    def list_key_page(self, limit: int, marker: str | None = None) -> Exchange[KeyPage]:
        """ListKey, one page of at most ``limit`` keys after ``marker`` (pyehsm).

        >>> page = c.list_key_page(100)
        >>> while page.next_marker: page = c.list_key_page(100, page.next_marker)
        """
        return self._exchange(ops.list_key_page(limit, marker))

    # -- key metadata (pyehsm, docs/key-metadata.md; every keyid argument also takes an alias) ------------
    @operation
    def describe_key(self, keyid: str) -> Exchange[KeyDescription]:
        """DescribeKey: every piece of a key's metadata, never its material.

        >>> c.describe_key("alias/payments").state
        'Enabled'
        """
        return self._exchange(ops.describe_key(keyid))

    @operation
    def update_key_description(self, keyid: str, description: str) -> Exchange[None]:
        """UpdateKeyDescription ("" clears it)."""
        return self._exchange(ops.update_key_description(keyid, description))

    @operation
    def create_alias(self, alias: str, keyid: str) -> Exchange[None]:
        """CreateAlias: name a key ``alias/<name>`` (unique in the app).

        >>> c.create_alias("alias/payments", keyid)
        """
        return self._exchange(ops.create_alias(alias, keyid))

    @operation
    def update_alias(self, alias: str, keyid: str) -> Exchange[None]:
        """UpdateAlias: point an existing alias at another key."""
        return self._exchange(ops.update_alias(alias, keyid))

    @operation
    def delete_alias(self, alias: str) -> Exchange[None]:
        """DeleteAlias (the key stays)."""
        return self._exchange(ops.delete_alias(alias))

    @operation
    def list_aliases(
        self, keyid: str | None = None, limit: int | None = None, marker: str | None = None
    ) -> Exchange[AliasPage]:
        """ListAliases: the app's aliases (of one key, or all), by name, paged with ``limit``/``marker``."""
        return self._exchange(ops.list_aliases(keyid, limit, marker))

    @operation
    def tag_key(self, keyid: str, tags: dict[str, str]) -> Exchange[None]:
        """TagKey: add or overwrite tags (at most 50 per key).

        >>> c.tag_key(keyid, {"env": "prod"})
        """
        return self._exchange(ops.tag_key(keyid, tags))

    @operation
    def untag_key(self, keyid: str, tag_keys: list[str]) -> Exchange[None]:
        """UntagKey: remove tags by key (absent ones are ignored)."""
        return self._exchange(ops.untag_key(keyid, tag_keys))

    @operation
    def list_key_tags(self, keyid: str) -> Exchange[dict[str, str]]:
        """ListKeyTags: the key's tags."""
        return self._exchange(ops.list_key_tags(keyid))

    @operation
    def schedule_key_deletion(self, keyid: str, pending_window_days: int | None = None) -> Exchange[int]:
        """ScheduleKeyDeletion: the key refuses every operation and is deleted after 7..30 days (default 30);
        returns the deletion date (ms since the epoch)."""
        return self._exchange(ops.schedule_key_deletion(keyid, pending_window_days))

    @operation
    def cancel_key_deletion(self, keyid: str) -> Exchange[str]:
        """CancelKeyDeletion: the key comes back Disabled (enable it to use it); returns its state."""
        return self._exchange(ops.cancel_key_deletion(keyid))

    @operation
    def enable_key(self, keyid: str) -> Exchange[None]:
        """EnableKey (idempotent).

        >>> c.enable_key(keyid)
        """
        return self._exchange(ops.enable_key(keyid))

    @operation
    def disable_key(self, keyid: str) -> Exchange[None]:
        """DisableKey (idempotent): the key refuses every operation until enabled.

        >>> c.disable_key(keyid)
        """
        return self._exchange(ops.disable_key(keyid))

    @operation
    def delete_key(self, keyid: str) -> Exchange[None]:
        """DeleteKey: deletes the key and its material for good.

        >>> c.delete_key(keyid)
        """
        return self._exchange(ops.delete_key(keyid))

    @operation
    def delete_all_key(self) -> Exchange[None]:
        """DeleteAllKey: deletes every key of the calling app.

        >>> c.delete_all_key()
        """
        return self._exchange(ops.delete_all_key())

    @operation
    def delete_all_keys(self) -> Exchange[None]:
        """Same as :meth:`delete_all_key`.

        >>> c.delete_all_keys()
        """
        return self._exchange(ops.delete_all_key())

    @operation
    def get_public_key(self, keyid: str) -> Exchange[str]:
        """GetPublicKey: the PEM SubjectPublicKeyInfo of an asymmetric key.

        >>> pem = c.get_public_key(keyid)
        """
        return self._exchange(ops.get_public_key(keyid))

    # -- key versions (docs/key-rotation.md) ---------------------------------------------------------
    @operation
    def rotate_key(self, keyid: str) -> Exchange[KeyVersion]:
        """RotateKey: a new version of an AES-GCM or SM4 key, made primary (old ciphertexts still decrypt).

        >>> c.rotate_key(keyid).version
        2
        """
        return self._exchange(ops.rotate_key(keyid))

    @operation
    def update_key_rotation(self, keyid: str, rotation_period_in_days: int | None = None) -> Exchange[KeyRotations]:
        """UpdateKeyRotation: rotate automatically every 90..2560 days (None or 0: off).

        >>> c.update_key_rotation(keyid, 365).next_rotation_date
        """
        return self._exchange(ops.update_key_rotation(keyid, rotation_period_in_days))

    @operation
    def list_key_rotations(self, keyid: str) -> Exchange[KeyRotations]:
        """ListKeyRotations: the key's versions (creation date, how made, state) and rotation settings.

        >>> [v.version for v in c.list_key_rotations(keyid).versions]
        [1, 2]
        """
        return self._exchange(ops.list_key_rotations(keyid))

    @operation
    def update_key_version_policy(self, keyid: str, min_decryption_version: int) -> Exchange[KeyRotations]:
        """UpdateKeyVersionPolicy: refuse ciphertexts of versions below ``min_decryption_version`` (reversible).

        >>> c.update_key_version_policy(keyid, 2).min_decryption_version
        2
        """
        return self._exchange(ops.update_key_version_policy(keyid, min_decryption_version))

    @operation
    def reencrypt(
        self,
        keyid: str,
        ciphertext: bytes,
        aad: bytes | None = None,
        destination_key_id: str | None = None,
        destination_aad: bytes | None = None,
    ) -> Exchange[ReEncrypted]:
        """ReEncrypt: decrypt under ``keyid`` and encrypt under ``destination_key_id``'s primary version (default:
        the same key), inside the server; the plaintext never leaves it.

        >>> c.reencrypt(keyid, old_ct).ciphertext
        """
        return self._exchange(ops.reencrypt(keyid, ciphertext, aad, destination_key_id, destination_aad))

    # -- symmetric crypto and data keys --------------------------------------------------------------
    @operation
    def encrypt(self, keyid: str, plaintext: bytes, aad: bytes | None = None) -> Exchange[bytes]:
        """Encrypt up to 6144 bytes under a symmetric CMK; ``aad`` must be given again to decrypt.

        >>> ct = c.encrypt(keyid, b"secret", aad=b"context")
        """
        return self._exchange(ops.encrypt(keyid, plaintext, aad))

    @operation
    def decrypt(self, keyid: str, ciphertext: bytes, aad: bytes | None = None) -> Exchange[bytes]:
        """Decrypt a ciphertext made by :meth:`encrypt` with the same key and aad.

        >>> c.decrypt(keyid, ct, aad=b"context")
        b'secret'
        """
        return self._exchange(ops.decrypt(keyid, ciphertext, aad))

    @operation
    def generate_data_key(self, keyid: str, keylen: int, aad: bytes | None = None) -> Exchange[DataKey]:
        """GenerateDataKey: a fresh random data key (``keylen`` bytes) and its ciphertext under the CMK.

        >>> plaintext_key, wrapped = c.generate_data_key(keyid, 32)
        """
        return self._exchange(ops.generate_data_key(keyid, keylen, aad))

    @operation
    def generate_data_key_without_plaintext(self, keyid: str, keylen: int, aad: bytes | None = None) -> Exchange[bytes]:
        """GenerateDataKeyWithoutPlaintext: only the data key's ciphertext (decrypt it when needed).

        >>> wrapped = c.generate_data_key_without_plaintext(keyid, 32)
        """
        return self._exchange(ops.generate_data_key_without_plaintext(keyid, keylen, aad))

    @operation
    def encapsulate(self, keyid: str) -> Exchange[Encapsulation]:
        """Encapsulate: a fresh shared secret and its KEM ciphertext under the ML-KEM key ``keyid``.

        >>> secret, ciphertext = c.encapsulate(mlkem_keyid)
        """
        return self._exchange(ops.encapsulate(keyid))

    @operation
    def decapsulate(self, keyid: str, ciphertext: bytes) -> Exchange[bytes]:
        """Decapsulate: the shared secret of a KEM ciphertext made for the ML-KEM key ``keyid``.

        >>> c.decapsulate(mlkem_keyid, ciphertext) == secret
        True
        """
        return self._exchange(ops.decapsulate(keyid, ciphertext))

    @operation
    def derive_shared_secret(self, keyid: str, public_key: bytes | str) -> Exchange[bytes]:
        """DeriveSharedSecret: ECDH (EC keys with usage EH_KEYUSAGE_KEY_AGREEMENT) or X25519 with a peer's public
        key, given as DER SubjectPublicKeyInfo bytes or PEM text.

        >>> secret = c.derive_shared_secret(ecdh_keyid, peer_pem)
        """
        return self._exchange(ops.derive_shared_secret(keyid, public_key))

    @operation
    def export_data_key(
        self,
        keyid: str,
        ukeyid: str,
        olddatakey: bytes,
        aad: bytes | None = None,
        padding_mode: str | None = None,
    ) -> Exchange[bytes]:
        """ExportDataKey: re-encrypt a data key wrapped by ``keyid`` under the public key ``ukeyid``.

        >>> exported = c.export_data_key(keyid, rsa_keyid, wrapped, padding_mode="EH_RSA_PKCS1_OAEP")
        """
        return self._exchange(ops.export_data_key(keyid, ukeyid, olddatakey, aad, padding_mode))

    # -- batches ----------------------------------------------------------------------------------
    @operation
    def batch_encrypt(self, items: list[ops.EncryptItem]) -> Exchange[list[BatchItem[bytes]]]:
        """BatchEncrypt: up to 100 (keyid, plaintext[, aad]) items; each answer is its ciphertext or its error.

        >>> [item.unwrap() for item in c.batch_encrypt([(keyid, b"a"), (other_keyid, b"b", b"ctx")])]
        """
        return self._exchange(ops.batch_encrypt(items))

    @operation
    def batch_decrypt(self, items: list[ops.DecryptItem]) -> Exchange[list[BatchItem[bytes]]]:
        """BatchDecrypt: up to 100 (keyid, ciphertext[, aad]) items; each answer is its plaintext or its error.

        >>> [item.value if item.ok else item.message for item in c.batch_decrypt([(keyid, ct)])]
        """
        return self._exchange(ops.batch_decrypt(items))

    @operation
    def batch_generate_data_key(self, items: list[ops.DataKeyItem]) -> Exchange[list[BatchItem[DataKey]]]:
        """BatchGenerateDataKey: up to 100 (keyid, keylen[, aad]) items; each answer is a DataKey or its error.

        >>> plaintext_key, wrapped = c.batch_generate_data_key([(keyid, 32)])[0].unwrap()
        """
        return self._exchange(ops.batch_generate_data_key(items))

    # -- MACs and randomness ----------------------------------------------------------------------
    @operation
    def generate_mac(
        self, keyid: str, message: bytes, mac_algorithm: str = ops.DEFAULT_MAC_ALGORITHM
    ) -> Exchange[bytes]:
        """GenerateMac: the HMAC of ``message`` under an EH_HMAC key (HMAC_SHA_224/256/384/512, HMAC_SM3).

        >>> tag = c.generate_mac(hmac_keyid, b"msg", "HMAC_SHA_256")
        """
        return self._exchange(ops.generate_mac(keyid, message, mac_algorithm))

    @operation
    def verify_mac(
        self, keyid: str, message: bytes, mac: bytes, mac_algorithm: str = ops.DEFAULT_MAC_ALGORITHM
    ) -> Exchange[bool]:
        """VerifyMac: True only for the full-length MAC (compared in constant time), else False.

        >>> c.verify_mac(hmac_keyid, b"msg", tag, "HMAC_SHA_256")
        True
        """
        return self._exchange(ops.verify_mac(keyid, message, mac, mac_algorithm))

    @operation
    def generate_random(self, number_of_bytes: int) -> Exchange[bytes]:
        """GenerateRandom: 1 to 1024 bytes from the server's CSPRNG.

        >>> len(c.generate_random(32))
        32
        """
        return self._exchange(ops.generate_random(number_of_bytes))

    # -- asymmetric crypto ------------------------------------------------------------------------
    @operation
    def asymmetric_encrypt(
        self, keyid: str, plaintext: bytes, padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING
    ) -> Exchange[bytes]:
        """AsymmetricEncrypt with an RSA or SM2 key (``padding_mode`` is ignored for SM2).

        >>> ct = c.asymmetric_encrypt(rsa_keyid, b"hi", "EH_RSA_PKCS1_OAEP")
        """
        return self._exchange(ops.asymmetric_encrypt(keyid, plaintext, padding_mode))

    @operation
    def asymmetric_decrypt(
        self, keyid: str, ciphertext: bytes, padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING
    ) -> Exchange[bytes]:
        """AsymmetricDecrypt, the inverse of :meth:`asymmetric_encrypt`.

        >>> c.asymmetric_decrypt(rsa_keyid, ct, "EH_RSA_PKCS1_OAEP")
        b'hi'
        """
        return self._exchange(ops.asymmetric_decrypt(keyid, ciphertext, padding_mode))

    @operation
    def sign(
        self,
        keyid: str,
        message: bytes,
        digest_mode: str | None = ops.DEFAULT_DIGEST,
        padding_mode: str = ops.DEFAULT_SIGN_PADDING,
        message_type: str = ops.DEFAULT_MESSAGE_TYPE,
        context: bytes | None = None,
    ) -> Exchange[bytes]:
        """Sign a message (EH_RAW) or a digest (EH_DIGEST); ECDSA/SM2 signatures are DER. ML-DSA keys also
        take a FIPS 204 ``context`` (0..255 bytes) and EH_EXTERNAL_MU (the message is the 64-byte mu).

        ``digest_mode`` None leaves the choice to the server (pyehsm: EH_SM3 for SM2, else EH_SHA_256);
        Intel's server needs it given.

            >>> sig = c.sign(ec_keyid, b"msg", "EH_SHA_256")
        """
        return self._exchange(ops.sign(keyid, message, digest_mode, padding_mode, message_type, context))

    @operation
    def verify(
        self,
        keyid: str,
        message: bytes,
        signature: bytes,
        digest_mode: str | None = ops.DEFAULT_DIGEST,
        padding_mode: str = ops.DEFAULT_SIGN_PADDING,
        message_type: str = ops.DEFAULT_MESSAGE_TYPE,
        context: bytes | None = None,
    ) -> Exchange[bool]:
        """Verify: False for a signature that does not verify (errors only for malformed input).

        >>> c.verify(ec_keyid, b"msg", sig, "EH_SHA_256")
        True
        """
        return self._exchange(ops.verify(keyid, message, signature, digest_mode, padding_mode, message_type, context))

    # -- BYOK -------------------------------------------------------------------------------------
    @operation
    def get_parameters_for_import(
        self, keyid: str, keyspec: str = "EH_RSA_3072", new_version: bool = False
    ) -> Exchange[ImportParameters]:
        """GetParametersForImport: a wrapping public key and token for an EH_EXTERNAL_KEY; ``new_version``: for
        :meth:`import_new_key_version` into a key that has material.

        >>> params = c.get_parameters_for_import(keyid, "EH_RSA_3072")
        """
        return self._exchange(ops.get_parameters_for_import(keyid, keyspec, new_version))

    @operation
    def import_key_material(
        self,
        keyid: str,
        key_material: bytes,
        import_token: str,
        padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING,
    ) -> Exchange[bool]:
        """ImportKeyMaterial: ``key_material`` is the key encrypted under the import public key.

        >>> c.import_key_material(keyid, wrapped_key, params.import_token, "EH_RSA_PKCS1_OAEP")
        True
        """
        return self._exchange(ops.import_key_material(keyid, key_material, import_token, padding_mode))

    @operation
    def import_new_key_version(
        self,
        keyid: str,
        key_material: bytes,
        import_token: str,
        padding_mode: str = ops.DEFAULT_ASYMMETRIC_PADDING,
    ) -> Exchange[int]:
        """ImportKeyMaterial with newVersion: rotate an EH_EXTERNAL_KEY to new material, imported into a new key
        version made primary (older versions keep decrypting); the version number. On a key awaiting its
        material it is the first import (version 1). Take the token from ``get_parameters_for_import(...,
        new_version=True)``.

        >>> c.import_new_key_version(keyid, wrapped_key, params.import_token, "EH_RSA_PKCS1_OAEP")
        2
        """
        return self._exchange(ops.import_new_key_version(keyid, key_material, import_token, padding_mode))

    # -- remote attestation -----------------------------------------------------------------------
    @operation
    def generate_quote(self, challenge: bytes) -> Exchange[Quote]:
        """GenerateQuote: a quote of the server's enclave/TD over ``challenge``.

        >>> quote = c.generate_quote(b"fresh challenge").quote
        """
        return self._exchange(ops.generate_quote(challenge))

    @operation
    def verify_quote(self, quote: bytes, nonce: bytes, policy_id: str | None = None) -> Exchange[QuoteVerification]:
        """VerifyQuote; the answer's HMAC and nonce echo are checked (ResponseSignatureError if not).

        >>> c.verify_quote(quote, b"nonce", policy_id).valid
        True
        """
        return self._exchange(ops.verify_quote(quote, nonce, self.apikey, policy_id))

    @operation
    def upload_quote_policy(self, mr_enclave: str, mr_signer: str) -> Exchange[str]:
        """UploadQuotePolicy: returns the new policyId.

        >>> policy_id = c.upload_quote_policy("ab" * 32, "cd" * 32)
        """
        return self._exchange(ops.upload_quote_policy(mr_enclave, mr_signer))

    @operation
    def get_quote_policy(self, policy_id: str) -> Exchange[QuotePolicy]:
        """GetQuotePolicy.

        >>> c.get_quote_policy(policy_id).mr_enclave
        """
        return self._exchange(ops.get_quote_policy(policy_id))

    # -- secrets ----------------------------------------------------------------------------------
    @operation
    def create_secret(
        self,
        secret_name: str,
        secret_data: str,
        encryption_key_id: str | None = None,
        description: str | None = None,
        rotation_interval: str | None = None,
    ) -> Exchange[None]:
        """CreateSecret: a named secret with its first version.

        >>> c.create_secret("db-password", "s3cr3t", description="prod db", rotation_interval="30d")
        """
        return self._exchange(
            ops.create_secret(secret_name, secret_data, encryption_key_id, description, rotation_interval)
        )

    @operation
    def update_secret_desc(self, secret_name: str, description: str | None = None) -> Exchange[None]:
        """UpdateSecretDesc.

        >>> c.update_secret_desc("db-password", "rotated monthly")
        """
        return self._exchange(ops.update_secret_desc(secret_name, description))

    @operation
    def put_secret_value(self, secret_name: str, secret_data: str) -> Exchange[None]:
        """PutSecretValue: stores a new version.

        >>> c.put_secret_value("db-password", "n3w")
        """
        return self._exchange(ops.put_secret_value(secret_name, secret_data))

    @operation
    def list_secret_version_ids(self, secret_name: str) -> Exchange[SecretVersions]:
        """ListSecretVersionIds.

        >>> sorted(v.version_id for v in c.list_secret_version_ids("db-password").versions)
        [1, 2]
        """
        return self._exchange(ops.list_secret_version_ids(secret_name))

    @operation
    def list_secrets(self, secret_name: str | None = None) -> Exchange[SecretList]:
        """ListSecrets (optionally only ``secret_name``).

        >>> [s.secret_name for s in c.list_secrets().secrets]
        """
        return self._exchange(ops.list_secrets(secret_name))

    @operation
    def describe_secret(self, secret_name: str) -> Exchange[SecretDescription]:
        """DescribeSecret: metadata, never the value.

        >>> c.describe_secret("db-password").rotation_interval
        '30d'
        """
        return self._exchange(ops.describe_secret(secret_name))

    @operation
    def delete_secret(
        self, secret_name: str, recovery_period: int | None = None, force_delete: bool | None = None
    ) -> Exchange[None]:
        """DeleteSecret: scheduled after ``recovery_period`` days (restorable until then) or at once.

        >>> c.delete_secret("db-password", recovery_period=7)
        """
        return self._exchange(ops.delete_secret(secret_name, recovery_period, force_delete))

    @operation
    def get_secret_value(self, secret_name: str, version_id: int | None = None) -> Exchange[SecretValue]:
        """GetSecretValue (latest version unless ``version_id``).

        >>> c.get_secret_value("db-password").secret_data
        'n3w'
        """
        return self._exchange(ops.get_secret_value(secret_name, version_id))

    @operation
    def restore_secret(self, secret_name: str) -> Exchange[None]:
        """RestoreSecret: cancels a scheduled deletion.

        >>> c.restore_secret("db-password")
        """
        return self._exchange(ops.restore_secret(secret_name))


class SyncTransport(Operations[httpx.Client], ABC):
    """A client whose methods return their results (:class:`pyehsm.client.Client`)."""

    @abstractmethod
    def _perform(self, exchange: Exchange[T]) -> T:
        """Send ``exchange`` (retrying as :class:`~pyehsm.client.base.RetryPolicy` allows), parse the answer."""


class AsyncTransport(Operations[httpx.AsyncClient], ABC):
    """A client whose methods are coroutines (:class:`pyehsm.client.AsyncClient`)."""

    @abstractmethod
    async def _perform(self, exchange: Exchange[T]) -> T:
        """Send ``exchange`` (retrying as :class:`~pyehsm.client.base.RetryPolicy` allows), parse the answer."""
