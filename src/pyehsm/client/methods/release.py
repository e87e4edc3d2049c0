"""SDK methods, attestation-gated key release (docs/key-release.md): challenges, release policies on keys and
secrets, and the gated operations whose answers are sealed to the recipient (client/release.py builds the
bundle and opens the answer)."""

from __future__ import annotations

from typing import Any

from pyehsm.client import release as rel
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import b64
from pyehsm.client.operation import operation
from pyehsm.client.operations.call import _payload

Policy = str | dict[str, Any]


class ReleaseMethods(BaseClient[H]):
    """The mixin of :class:`~pyehsm.client.api.Operations` for this area."""

    @operation
    def get_attestation_challenge(self) -> Exchange[rel.AttestationChallenge]:
        """GetAttestationChallenge: a single-use nonce (valid 5 minutes) for one release bundle.

        >>> bundle = Recipient().bundle(c.get_attestation_challenge().nonce, provider)
        """
        return self._exchange(rel.get_attestation_challenge())

    @operation
    def put_key_release_policy(
        self, keyid: str, policy: Policy, bundle: rel.Bundle | None = None
    ) -> Exchange[rel.ReleasePolicyInfo]:
        """PutKeyReleasePolicy (``bundle``: needed when the key has a policy already, satisfying it).

        >>> c.put_key_release_policy(keyid, {"anyOf": [{"tee": "TDX", "mrTd": mr_td}]}).policy_id
        """
        return self._exchange(rel.put_release_policy("Key", keyid, policy, bundle))

    @operation
    def get_key_release_policy(self, keyid: str) -> Exchange[rel.ReleasePolicyInfo]:
        """GetKeyReleasePolicy (``policy`` None: the key has none)."""
        return self._exchange(rel.get_release_policy("Key", keyid))

    @operation
    def delete_key_release_policy(
        self, keyid: str, bundle: rel.Bundle | None = None
    ) -> Exchange[rel.ReleasePolicyInfo]:
        """DeleteKeyReleasePolicy (``bundle`` satisfying the current policy)."""
        return self._exchange(rel.put_release_policy("Key", keyid, None, bundle))

    @operation
    def put_secret_release_policy(
        self, secret_name: str, policy: Policy, bundle: rel.Bundle | None = None
    ) -> Exchange[rel.ReleasePolicyInfo]:
        """PutSecretReleasePolicy (``bundle``: needed when the secret has a policy already)."""
        return self._exchange(rel.put_release_policy("Secret", secret_name, policy, bundle))

    @operation
    def get_secret_release_policy(self, secret_name: str) -> Exchange[rel.ReleasePolicyInfo]:
        """GetSecretReleasePolicy."""
        return self._exchange(rel.get_release_policy("Secret", secret_name))

    @operation
    def delete_secret_release_policy(
        self, secret_name: str, bundle: rel.Bundle | None = None
    ) -> Exchange[rel.ReleasePolicyInfo]:
        """DeleteSecretReleasePolicy (``bundle`` satisfying the current policy)."""
        return self._exchange(rel.put_release_policy("Secret", secret_name, None, bundle))

    @operation
    def decrypt_for_recipient(
        self, keyid: str, ciphertext: bytes, bundle: rel.Bundle, aad: bytes | None = None
    ) -> Exchange[bytes]:
        """Decrypt with an attestation bundle: the plaintext sealed to the bundle's recipient key.

        >>> plaintext = recipient.open(c.decrypt_for_recipient(keyid, ct, bundle), bundle)
        """
        payload = _payload(keyid=keyid, ciphertext=b64(ciphertext), aad=b64(aad) if aad else None)
        return self._exchange(rel.released("Decrypt", payload, bundle))

    @operation
    def generate_data_key_for_recipient(
        self, keyid: str, keylen: int, bundle: rel.Bundle, aad: bytes | None = None
    ) -> Exchange[rel.RecipientDataKey]:
        """GenerateDataKey with an attestation bundle: the data key sealed to the recipient, and its ciphertext."""
        payload = _payload(keyid=keyid, keylen=keylen, aad=b64(aad) if aad else None)
        return self._exchange(rel.released_data_key(payload, bundle))

    @operation
    def export_data_key_for_recipient(
        self, keyid: str, ukeyid: str, olddatakey: bytes, bundle: rel.Bundle, aad: bytes | None = None
    ) -> Exchange[bytes]:
        """ExportDataKey with an attestation bundle: the data key sealed to the recipient (not under ``ukeyid``)."""
        payload = _payload(keyid=keyid, ukeyid=ukeyid, olddatakey=b64(olddatakey), aad=b64(aad) if aad else None)
        return self._exchange(rel.released("ExportDataKey", payload, bundle))

    @operation
    def asymmetric_decrypt_for_recipient(
        self, keyid: str, ciphertext: bytes, bundle: rel.Bundle, padding_mode: str | None = None
    ) -> Exchange[bytes]:
        """AsymmetricDecrypt with an attestation bundle."""
        payload = _payload(keyid=keyid, ciphertext=b64(ciphertext), padding_mode=padding_mode)
        return self._exchange(rel.released("AsymmetricDecrypt", payload, bundle))

    @operation
    def decapsulate_for_recipient(self, keyid: str, ciphertext: bytes, bundle: rel.Bundle) -> Exchange[bytes]:
        """Decapsulate with an attestation bundle: the shared secret sealed to the recipient."""
        return self._exchange(rel.released("Decapsulate", {"keyid": keyid, "ciphertext": b64(ciphertext)}, bundle))

    @operation
    def derive_shared_secret_for_recipient(
        self, keyid: str, public_key_der: bytes, bundle: rel.Bundle
    ) -> Exchange[bytes]:
        """DeriveSharedSecret with an attestation bundle."""
        payload = {"keyid": keyid, "publicKey": b64(public_key_der)}
        return self._exchange(rel.released("DeriveSharedSecret", payload, bundle))

    @operation
    def get_secret_value_for_recipient(
        self, secret_name: str, bundle: rel.Bundle, version_id: int | None = None
    ) -> Exchange[rel.RecipientSecret]:
        """GetSecretValue with an attestation bundle: the value (UTF-8) sealed to the recipient."""
        return self._exchange(rel.released_secret(_payload(secretName=secret_name, versionId=version_id), bundle))
