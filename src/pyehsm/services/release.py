"""Released operations (docs/key-release.md): the plaintext-returning operations with an attestation bundle.

Each resolves its key or secret, passes the bundle through the gate (services/release_gate.py) with the
policies involved, runs the ordinary service operation with the resulting grant, and returns the
plaintext sealed to the bundle's recipient key (crypto/recipient.py), never the plaintext itself. A key
or secret without a policy may be used this way too (the answer is sealed all the same).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyehsm.crypto.recipient import seal
from pyehsm.errors import DomainError, InternalFailure
from pyehsm.services.asymmetric import AsymmetricService
from pyehsm.services.keys import KeyService
from pyehsm.services.release_gate import AttestationBundle, ReleaseGate, Subject
from pyehsm.services.release_grant import ReleaseGrant
from pyehsm.services.secrets import SecretService
from pyehsm.services.symmetric import SymmetricService
from pyehsm.store.records import KeyRecord


@dataclass(frozen=True, slots=True)
class SealedSecret:
    name: str
    version: int
    created_ms: int
    sealed: bytes


class ReleaseService:
    def __init__(
        self,
        gate: ReleaseGate,
        keys: KeyService,
        symmetric: SymmetricService,
        asymmetric: AsymmetricService,
        secrets: SecretService,
    ) -> None:
        self._gate = gate
        self._keys = keys
        self._symmetric = symmetric
        self._asymmetric = asymmetric
        self._secrets = secrets

    def __repr__(self) -> str:
        return "<ReleaseService>"

    async def _key_grant(self, appid: str, keyid: str, bundle: AttestationBundle) -> tuple[KeyRecord, ReleaseGrant]:
        record = await self._keys.get(appid, keyid)
        subject = Subject("key", record.keyid, record.keyid, record.release_policy)
        return record, await self._gate.check(appid, bundle, [subject])

    @staticmethod
    def _seal(grant: ReleaseGrant, plaintext: bytes) -> bytes:
        if grant.recipient is None:  # pragma: no cover - the gate's grants always name their recipient
            raise InternalFailure
        try:
            return seal(grant.recipient, plaintext, grant.nonce)
        finally:
            del plaintext

    async def decrypt(self, appid: str, keyid: str, ciphertext: bytes, aad: bytes, bundle: AttestationBundle) -> bytes:
        record, grant = await self._key_grant(appid, keyid, bundle)
        return self._seal(grant, await self._symmetric.decrypt(appid, record.keyid, ciphertext, aad, grant))

    async def generate_data_key(
        self, appid: str, keyid: str, keylen: int, aad: bytes, bundle: AttestationBundle
    ) -> tuple[bytes, bytes]:
        """(the data key sealed to the recipient, its ciphertext under the key)."""
        record, grant = await self._key_grant(appid, keyid, bundle)
        data_key, ciphertext = await self._symmetric.generate_data_key(appid, record.keyid, keylen, aad, grant=grant)
        return self._seal(grant, data_key), ciphertext

    async def export_data_key(
        self, appid: str, keyid: str, old_data_key: bytes, aad: bytes, bundle: AttestationBundle
    ) -> bytes:
        """ExportDataKey with a bundle: the data key inside ``old_data_key`` sealed to the recipient (in place
        of an export under ``ukeyid``, whose private key the bundle's workload need not hold)."""
        record, grant = await self._key_grant(appid, keyid, bundle)
        return self._seal(grant, await self._symmetric.decrypt(appid, record.keyid, old_data_key, aad, grant))

    async def asymmetric_decrypt(
        self, appid: str, keyid: str, ciphertext: bytes, padding: str | None, bundle: AttestationBundle
    ) -> bytes:
        record, grant = await self._key_grant(appid, keyid, bundle)
        return self._seal(grant, await self._asymmetric.decrypt(appid, record.keyid, ciphertext, padding, grant))

    async def decapsulate(self, appid: str, keyid: str, ciphertext: bytes, bundle: AttestationBundle) -> bytes:
        record, grant = await self._key_grant(appid, keyid, bundle)
        return self._seal(grant, await self._asymmetric.decapsulate(appid, record.keyid, ciphertext, grant))

    async def derive_shared_secret(
        self, appid: str, keyid: str, peer_spki_der: bytes, bundle: AttestationBundle
    ) -> bytes:
        record, grant = await self._key_grant(appid, keyid, bundle)
        shared = await self._asymmetric.derive_shared_secret(appid, record.keyid, peer_spki_der, grant)
        return self._seal(grant, shared)

    async def get_secret_value(
        self, appid: str, name: str, version_id: int | None, bundle: AttestationBundle
    ) -> SealedSecret:
        """GetSecretValue with a bundle: the secret's policy and its encryption key's policy must both be met."""
        record = await self._secrets.describe(appid, name)
        subjects = [Subject("secret", record.secret_id, record.name, record.release_policy)]
        if record.encryption_keyid is not None:
            try:
                key = await self._keys.get(appid, record.encryption_keyid)
            except DomainError:
                pass  # get_value answers for a vanished key (SecretKeyGone)
            else:
                subjects.append(Subject("key", key.keyid, key.keyid, key.release_policy))
        grant = await self._gate.check(appid, bundle, subjects)
        value = await self._secrets.get_value(appid, name, version_id, grant)
        return SealedSecret(value.name, value.version, value.created_ms, self._seal(grant, value.data.encode("utf-8")))
