"""The release rule every plaintext-returning operation applies (docs/key-release.md, "Gated operations").

A key or secret with a release policy gives its plaintext (decrypted data, data keys, shared secrets,
secret values) only to a request whose attestation satisfied that exact policy: the operation is given a
:class:`ReleaseGrant` built by services/release.py after the gate, and checks it here. Without a grant
(the plain Actions, batches, the AWS door) a gated key or secret is refused with ReleaseAttestationRequired:
the services fail closed, whatever door or path calls them.

The one other grant is ReEncrypt's (``for_reencryption``): the plaintext stays inside the server, so
re-encrypting under a key with the very same policy keeps the gate; any other destination is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyehsm.crypto.recipient import RecipientKey
from pyehsm.errors import ReleaseAttestationRequired
from pyehsm.store.records import KeyRecord, SecretRecord


@dataclass(frozen=True, slots=True)
class ReleaseGrant:
    """What one request's attestation satisfied: (keyid or secret id, canonical policy) pairs of ``appid``,
    and the recipient the plaintext must be sealed to (None only for ReEncrypt's in-server grant)."""

    appid: str
    keys: frozenset[tuple[str, str]]
    secrets: frozenset[tuple[str, str]]
    recipient: RecipientKey | None
    nonce: bytes

    def __repr__(self) -> str:
        return f"<ReleaseGrant keys={len(self.keys)} secrets={len(self.secrets)}>"

    @classmethod
    def for_reencryption(cls, source: KeyRecord, destination: KeyRecord) -> ReleaseGrant:
        """ReEncrypt from a gated key: allowed only into a key of the same app with the same policy."""
        policy = source.release_policy
        if policy is None or destination.appid != source.appid or destination.release_policy != policy:
            raise ReleaseAttestationRequired("key", source.keyid)
        return cls(source.appid, frozenset({(source.keyid, policy)}), frozenset(), None, b"")


def require_key_release(record: KeyRecord, grant: ReleaseGrant | None) -> None:
    """Refuse the key's plaintext unless it has no release policy or ``grant`` satisfied that policy."""
    policy = record.release_policy
    if policy is None:
        return
    if grant is not None and grant.appid == record.appid and (record.keyid, policy) in grant.keys:
        return
    raise ReleaseAttestationRequired("key", record.keyid)


def require_secret_release(record: SecretRecord, grant: ReleaseGrant | None) -> None:
    """Refuse the secret's value unless it has no release policy or ``grant`` satisfied that policy."""
    policy = record.release_policy
    if policy is None:
        return
    if grant is not None and grant.appid == record.appid and (record.secret_id, policy) in grant.secrets:
        return
    raise ReleaseAttestationRequired("secret", record.name)
