"""SDK methods, key versions: RotateKey, UpdateKeyRotation, ListKeyRotations, UpdateKeyVersionPolicy, ReEncrypt."""

from __future__ import annotations

from pyehsm.client import operations as ops
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import KeyRotations, KeyVersion, ReEncrypted
from pyehsm.client.operation import operation


class RotationMethods(BaseClient[H]):
    """The mixin of :class:`~pyehsm.client.api.Operations` for this area."""

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
