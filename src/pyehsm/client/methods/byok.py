"""SDK methods, BYOK: GetParametersForImport, ImportKeyMaterial."""

from __future__ import annotations

from pyehsm.client import operations as ops
from pyehsm.client.base import BaseClient, Exchange, H
from pyehsm.client.models import ImportParameters
from pyehsm.client.operation import operation


class ByokMethods(BaseClient[H]):
    """The mixin of :class:`~pyehsm.client.api.Operations` for this area."""

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
