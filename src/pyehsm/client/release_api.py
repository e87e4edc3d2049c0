"""The SDK methods of attestation-gated key release (docs/key-release.md), written once for both clients:
``client/api.py`` makes each a method of :class:`pyehsm.client.Client` and :class:`pyehsm.client.AsyncClient`
(``name = operation(release_api.name)``), as it does its own methods."""

from __future__ import annotations

from typing import Any

from pyehsm.client import release as rel
from pyehsm.client.base import BaseClient, Exchange
from pyehsm.client.models import b64
from pyehsm.client.operations import _payload

Policy = str | dict[str, Any]


def get_attestation_challenge(self: BaseClient[Any]) -> Exchange[rel.AttestationChallenge]:
    """GetAttestationChallenge: a single-use nonce (valid 5 minutes) for one release bundle.

    >>> bundle = Recipient().bundle(c.get_attestation_challenge().nonce, provider)
    """
    return self._exchange(rel.get_attestation_challenge())


def put_key_release_policy(
    self: BaseClient[Any], keyid: str, policy: Policy, bundle: rel.Bundle | None = None
) -> Exchange[rel.ReleasePolicyInfo]:
    """PutKeyReleasePolicy (``bundle``: needed when the key has a policy already, satisfying it).

    >>> c.put_key_release_policy(keyid, {"anyOf": [{"tee": "TDX", "mrTd": mr_td}]}).policy_id
    """
    return self._exchange(rel.put_release_policy("Key", keyid, policy, bundle))


def get_key_release_policy(self: BaseClient[Any], keyid: str) -> Exchange[rel.ReleasePolicyInfo]:
    """GetKeyReleasePolicy (``policy`` None: the key has none)."""
    return self._exchange(rel.get_release_policy("Key", keyid))


def delete_key_release_policy(
    self: BaseClient[Any], keyid: str, bundle: rel.Bundle | None = None
) -> Exchange[rel.ReleasePolicyInfo]:
    """DeleteKeyReleasePolicy (``bundle`` satisfying the current policy)."""
    return self._exchange(rel.put_release_policy("Key", keyid, None, bundle))


def put_secret_release_policy(
    self: BaseClient[Any], secret_name: str, policy: Policy, bundle: rel.Bundle | None = None
) -> Exchange[rel.ReleasePolicyInfo]:
    """PutSecretReleasePolicy (``bundle``: needed when the secret has a policy already)."""
    return self._exchange(rel.put_release_policy("Secret", secret_name, policy, bundle))


def get_secret_release_policy(self: BaseClient[Any], secret_name: str) -> Exchange[rel.ReleasePolicyInfo]:
    """GetSecretReleasePolicy."""
    return self._exchange(rel.get_release_policy("Secret", secret_name))


def delete_secret_release_policy(
    self: BaseClient[Any], secret_name: str, bundle: rel.Bundle | None = None
) -> Exchange[rel.ReleasePolicyInfo]:
    """DeleteSecretReleasePolicy (``bundle`` satisfying the current policy)."""
    return self._exchange(rel.put_release_policy("Secret", secret_name, None, bundle))


def decrypt_for_recipient(
    self: BaseClient[Any], keyid: str, ciphertext: bytes, bundle: rel.Bundle, aad: bytes | None = None
) -> Exchange[bytes]:
    """Decrypt with an attestation bundle: the plaintext sealed to the bundle's recipient key.

    >>> plaintext = recipient.open(c.decrypt_for_recipient(keyid, ct, bundle), bundle)
    """
    payload = _payload(keyid=keyid, ciphertext=b64(ciphertext), aad=b64(aad) if aad else None)
    return self._exchange(rel.released("Decrypt", payload, bundle))


def generate_data_key_for_recipient(
    self: BaseClient[Any], keyid: str, keylen: int, bundle: rel.Bundle, aad: bytes | None = None
) -> Exchange[rel.RecipientDataKey]:
    """GenerateDataKey with an attestation bundle: the data key sealed to the recipient, and its ciphertext."""
    payload = _payload(keyid=keyid, keylen=keylen, aad=b64(aad) if aad else None)
    return self._exchange(rel.released_data_key(payload, bundle))


def export_data_key_for_recipient(
    self: BaseClient[Any], keyid: str, ukeyid: str, olddatakey: bytes, bundle: rel.Bundle, aad: bytes | None = None
) -> Exchange[bytes]:
    """ExportDataKey with an attestation bundle: the data key sealed to the recipient (not under ``ukeyid``)."""
    payload = _payload(keyid=keyid, ukeyid=ukeyid, olddatakey=b64(olddatakey), aad=b64(aad) if aad else None)
    return self._exchange(rel.released("ExportDataKey", payload, bundle))


def asymmetric_decrypt_for_recipient(
    self: BaseClient[Any], keyid: str, ciphertext: bytes, bundle: rel.Bundle, padding_mode: str | None = None
) -> Exchange[bytes]:
    """AsymmetricDecrypt with an attestation bundle."""
    payload = _payload(keyid=keyid, ciphertext=b64(ciphertext), padding_mode=padding_mode)
    return self._exchange(rel.released("AsymmetricDecrypt", payload, bundle))


def decapsulate_for_recipient(
    self: BaseClient[Any], keyid: str, ciphertext: bytes, bundle: rel.Bundle
) -> Exchange[bytes]:
    """Decapsulate with an attestation bundle: the shared secret sealed to the recipient."""
    return self._exchange(rel.released("Decapsulate", {"keyid": keyid, "ciphertext": b64(ciphertext)}, bundle))


def derive_shared_secret_for_recipient(
    self: BaseClient[Any], keyid: str, public_key_der: bytes, bundle: rel.Bundle
) -> Exchange[bytes]:
    """DeriveSharedSecret with an attestation bundle."""
    payload = {"keyid": keyid, "publicKey": b64(public_key_der)}
    return self._exchange(rel.released("DeriveSharedSecret", payload, bundle))


def get_secret_value_for_recipient(
    self: BaseClient[Any], secret_name: str, bundle: rel.Bundle, version_id: int | None = None
) -> Exchange[rel.RecipientSecret]:
    """GetSecretValue with an attestation bundle: the value (UTF-8) sealed to the recipient."""
    return self._exchange(rel.released_secret(_payload(secretName=secret_name, versionId=version_id), bundle))
