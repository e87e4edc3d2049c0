"""Asymmetric actions: GetPublicKey, AsymmetricEncrypt/Decrypt, Sign/Verify (RSA, ECDSA, SM2, HMAC) and
ExportDataKey.

Every operation resolves the caller's key through KeyService (tenancy, state, keyspec and usage rules; the
release rule of services/release_grant.py for AsymmetricDecrypt, Decapsulate, DeriveSharedSecret and
ExportDataKey's symmetric key)
and takes its parsed key from the keyring's primitive cache; the family-specific rules live in the family
modules (:mod:`pyehsm.crypto.asymmetric`). Parsing a 4096-bit RSA key with validation takes up to 250 ms and
happens once per key version and process (again after a disable/enable or a cache eviction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from pyehsm.crypto import asymmetric
from pyehsm.crypto.family import ContextSigner, Decapsulator, Encapsulator, KeyAgreement
from pyehsm.crypto.keyspecs import KeySpec, Operation
from pyehsm.errors import (
    ContextNotAllowed,
    DecryptionFailed,
    ExternalMuContext,
    InternalFailure,
    LimitExceeded,
    MessageTypeNotAllowed,
    OperationNotSupported,
)
from pyehsm.keyring.pool import KeyPairPool
from pyehsm.services.keys import KeyService
from pyehsm.services.release_grant import ReleaseGrant, require_key_release
from pyehsm.services.symmetric import SymmetricService

DEFAULT_EXPORT_PADDING = "EH_RSA_PKCS1_OAEP"  # docs/protocol.md: ExportDataKey default for RSA (SM2 ignores it)


class _WireErrors:
    """``with _wire_errors[field]:`` maps the crypto layer's errors to domain errors; ``field`` names the
    encrypted input. A plain class, not @contextmanager (a generator per call): it is on every Sign."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, asymmetric.PlaintextTooLong):
            raise LimitExceeded(self.field, exc.max_bytes, exc.scheme) from None
        if isinstance(exc, asymmetric.DecryptionFailed):
            raise DecryptionFailed("asymmetric") from None


_wire_errors = {field: _WireErrors(field) for field in ("keyid", "plaintext", "ciphertext", "message", "data key")}


_PREHASHED = asymmetric.MESSAGE_TYPE_PREHASHED
EXTERNAL_MU = "EH_EXTERNAL_MU"  # the message is a 64-byte ML-DSA mu (FIPS 204), signed as is


def _pure(key: asymmetric.KeyPrimitive, spec: KeySpec, message_type: str, context: bytes | None) -> ContextSigner:
    """The key as a context / external-mu signer (ML-DSA), or the domain error for a family that is not one."""
    if isinstance(key, ContextSigner):
        if message_type == "EH_DIGEST":
            raise MessageTypeNotAllowed(message_type, spec.family.name)
        if message_type == EXTERNAL_MU and context is not None:  # the mu was computed with its context already
            raise ExternalMuContext
        return key
    if message_type == EXTERNAL_MU:
        raise MessageTypeNotAllowed(message_type, spec.family.name)
    raise ContextNotAllowed(spec.family.name)


def _key_of(spec: KeySpec) -> Callable[[bytes], asymmetric.KeyPrimitive]:
    """How ``spec``'s family builds the key primitive of one key version (called after a primitive-cache miss)."""
    return spec.load


@dataclass(frozen=True, slots=True)
class DataKeyPair:
    """GenerateDataKeyPair: a fresh key pair for use outside the server, its private key sealed under a CMK."""

    private_key: bytes  # PKCS#8 DER (the family's material format)
    public_key: bytes  # SubjectPublicKeyInfo DER
    ciphertext: bytes  # ``private_key`` encrypted under the symmetric CMK and the AAD

    def __repr__(self) -> str:
        return f"<DataKeyPair public={len(self.public_key)} bytes>"


class AsymmetricService:
    def __init__(self, keys: KeyService, symmetric: SymmetricService, pool: KeyPairPool) -> None:
        self._keys = keys
        self._symmetric = symmetric
        self._pool = pool

    def __repr__(self) -> str:
        return "<AsymmetricService>"

    async def _key(
        self, appid: str, keyid: str, op: Operation, *, releases: bool = False, grant: ReleaseGrant | None = None
    ) -> tuple[asymmetric.KeyPrimitive, KeySpec]:
        """The primitive of the key's primary version, exactly as SymmetricService.encrypt gets its cipher: from
        the keyring's cache, else unwrapped from that version's stored material and built by the family. An
        operation that ``releases`` plaintext needs ``grant`` for a key with a release policy."""
        resolved = self._keys.resolve_cached(appid, keyid, op)
        record, spec = resolved if resolved is not None else await self._keys.resolve(appid, keyid, op)
        if releases:
            require_key_release(record, grant)
        version = record.primary_version
        key: asymmetric.KeyPrimitive | None = self._keys.cached_primitive(record, version)
        if key is None:
            try:
                key = await self._keys.load_primitive(record, version, _key_of(spec))
            except asymmetric.KeyMaterialError:
                raise InternalFailure from None
        return key, spec

    async def get_public_key(self, appid: str, keyid: str) -> str:
        key, _ = await self._key(appid, keyid, Operation.PUBLIC_KEY)
        with _wire_errors["keyid"]:
            return key.public_pem()

    async def encrypt(self, appid: str, keyid: str, plaintext: bytes, padding: str | None) -> bytes:
        key, _ = await self._key(appid, keyid, Operation.ASYMMETRIC_ENCRYPT)
        with _wire_errors["plaintext"]:
            return key.encrypt(plaintext, padding)

    async def decrypt(
        self, appid: str, keyid: str, ciphertext: bytes, padding: str | None, grant: ReleaseGrant | None = None
    ) -> bytes:
        key, _ = await self._key(appid, keyid, Operation.ASYMMETRIC_ENCRYPT, releases=True, grant=grant)
        with _wire_errors["ciphertext"]:
            return key.decrypt(ciphertext, padding)

    async def sign(
        self,
        appid: str,
        keyid: str,
        message: bytes,
        message_type: str,
        digest: str | None,
        padding: str | None,
        context: bytes | None = None,
    ) -> bytes:
        """A signature of ``message``; ``context`` (ML-DSA only) and EH_EXTERNAL_MU take the pure path."""
        key, spec = await self._key(appid, keyid, Operation.SIGN)
        if context is not None or message_type == EXTERNAL_MU:
            signer = _pure(key, spec, message_type, context)
            return signer.sign_pure(message, context=context or b"", mu=message_type == EXTERNAL_MU)
        with _wire_errors["message"]:
            return key.sign(
                message, digest=digest or spec.default_digest, prehashed=_PREHASHED[message_type], padding=padding
            )

    async def verify(
        self,
        appid: str,
        keyid: str,
        message: bytes,
        signature: bytes,
        message_type: str,
        digest: str | None,
        padding: str | None,
        context: bytes | None = None,
    ) -> bool:
        key, spec = await self._key(appid, keyid, Operation.SIGN)
        if context is not None or message_type == EXTERNAL_MU:
            signer = _pure(key, spec, message_type, context)
            return signer.verify_pure(signature, message, context=context or b"", mu=message_type == EXTERNAL_MU)
        with _wire_errors["message"]:
            return key.verify(
                signature,
                message,
                digest=digest or spec.default_digest,
                prehashed=_PREHASHED[message_type],
                padding=padding,
            )

    async def encapsulate(self, appid: str, keyid: str) -> tuple[bytes, bytes]:
        """(shared secret, ciphertext): a fresh KEM encapsulation to the key's public key (ML-KEM)."""
        key, _ = await self._key(appid, keyid, Operation.ENCAPSULATE)
        if not isinstance(key, Encapsulator):  # pragma: no cover - every ENCAPSULATE family's primitive is one
            raise InternalFailure
        return key.encapsulate()

    async def decapsulate(self, appid: str, keyid: str, ciphertext: bytes, grant: ReleaseGrant | None = None) -> bytes:
        """The shared secret of a KEM ciphertext (implicit rejection: never an error for a ciphertext of the right
        length; MalformedParameter for another length)."""
        return (await self.decapsulator(appid, keyid, grant))(ciphertext)

    async def decapsulator(self, appid: str, keyid: str, grant: ReleaseGrant | None = None) -> Callable[[bytes], bytes]:
        """``decapsulate`` split in two: the key is resolved and checked now (its refusals raised here), the
        returned function only computes (BatchDecapsulate resolves each distinct key once)."""
        key, _ = await self._key(appid, keyid, Operation.ENCAPSULATE, releases=True, grant=grant)
        if not isinstance(key, Decapsulator):  # pragma: no cover - every ENCAPSULATE family's primitive is one
            raise InternalFailure
        return key.decapsulate

    async def derive_shared_secret(
        self, appid: str, keyid: str, peer_spki_der: bytes, grant: ReleaseGrant | None = None
    ) -> bytes:
        """ECDH / X25519 with a peer's SubjectPublicKeyInfo (MalformedParameter for an unusable peer key)."""
        key, _ = await self._key(appid, keyid, Operation.DERIVE_SHARED_SECRET, releases=True, grant=grant)
        if not isinstance(key, KeyAgreement):  # pragma: no cover - every such family's primitive is one
            raise InternalFailure
        return key.derive_shared_secret(peer_spki_der)

    async def generate_data_key_pair(
        self,
        appid: str,
        keyid: str,
        spec: KeySpec,
        aad: bytes,
        *,
        keyed: bool = False,
        with_plaintext: bool = True,
        grant: ReleaseGrant | None = None,
    ) -> DataKeyPair:
        """A fresh key pair of ``spec`` (generated by its family, through the key pool) with its private key
        encrypted under the symmetric ``keyid`` and ``aad`` (the keyed form when ``keyed``), so Decrypt returns
        the same PKCS#8. The CMK's refusals come before any generation; a CMK with a release policy releases
        the private key in the clear (``with_plaintext``) only with a ``grant``, as GenerateDataKey."""
        record, _ = await self._symmetric.resolve(appid, keyid)
        if with_plaintext:
            require_key_release(record, grant)
        if spec.symmetric or not spec.supports(Operation.PUBLIC_KEY):
            raise OperationNotSupported(spec.name, "GenerateDataKeyPair")
        material = await self._pool.take(spec)
        load = asyncio.to_thread(spec.load, material) if spec.family.parse_in_thread else None
        pair: asymmetric.KeyPrimitive = await load if load is not None else spec.load(material)
        public = asymmetric.spki_der(pair.public_pem())
        seal = self._symmetric.encrypt_keyed if keyed else self._symmetric.encrypt
        return DataKeyPair(material, public, await seal(appid, keyid, material, aad))

    async def export_data_key(
        self, appid: str, keyid: str, ukeyid: str, old_data_key: bytes, aad: bytes, padding: str | None
    ) -> bytes:
        """The data key inside ``old_data_key`` (a ciphertext under the symmetric ``keyid`` and ``aad``),
        encrypted under the public key of the asymmetric ``ukeyid``."""
        ukey, _ = await self._key(appid, ukeyid, Operation.ASYMMETRIC_ENCRYPT)
        data_key = await self._symmetric.decrypt(appid, keyid, old_data_key, aad)
        with _wire_errors["data key"]:
            return ukey.encrypt(data_key, padding or DEFAULT_EXPORT_PADDING)
