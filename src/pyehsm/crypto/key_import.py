"""BYOK: the wrapping key pair, unwrapping imported key material, and checking it against its keyspec.

Wrapping schemes, chosen by the wrapping key's family and ImportKeyMaterial's ``padding_mode``:

``EH_RSA_PKCS1_OAEP`` (RSA wrapping keys; recommended for material that fits)
    RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label, of the material itself: at most
    k - 66 bytes (190 / 318 / 446 for RSA-2048 / 3072 / 4096).
``EH_RSA_PKCS1`` (RSA wrapping keys)
    RSAES-PKCS1-v1_5 of the material: at most k - 11 bytes. Decryption uses *implicit rejection*
    (see :mod:`pyehsm.crypto.rsa`): a ciphertext made with another key or modified in transit does not
    fail, it decrypts to pseudo-random bytes of a pseudo-random length. Only the length and form
    checks below stand between such bytes and the key, so for symmetric keyspecs (whose only check
    is the length) a garbled PKCS#1 v1.5 import can install garbage: use OAEP.
``EH_RSA_AES_KEY_WRAP`` (RSA wrapping keys; a pyehsm extension for material too long for RSA)
    PKCS#11 ``CKM_RSA_AES_KEY_WRAP`` / AWS KMS ``RSA_AES_KEY_WRAP_SHA_256``: the concatenation of
    RSAES-OAEP-SHA-256 (as above) of a fresh AES key of 16, 24 or 32 bytes (k bytes), and AES Key
    Wrap with Padding (RFC 5649) of the material under that AES key. RSA private keys (1.2 to 2.4 KB
    of PKCS#8) need it; everything else may use it too.
``EH_RSA_PKCS1_OAEP_SHA1`` and ``EH_RSA_AES_KEY_WRAP_SHA1`` (RSA wrapping keys; AWS KMS's RSAES_OAEP_SHA_1 and
    RSA_AES_KEY_WRAP_SHA_1)
    As the two above with SHA-1 and MGF1-SHA-1 in the OAEP padding (k - 42 bytes of material directly).
SM2 wrapping keys (``padding_mode`` ignored)
    SM2 public-key encryption (GB/T 32918.4), GM/T 0009 DER C1C3C2 ciphertext, as made by
    ``openssl pkeyutl -encrypt``; it carries any material up to 6144 bytes directly.

The schemes live in the wrapping key's family (``WrappingFamily`` in :mod:`pyehsm.crypto.family`: RSA in
:mod:`pyehsm.crypto.rsa`, SM2 in :mod:`pyehsm.crypto.sm2`). Material, after unwrapping, must fit the target
keyspec exactly (:func:`check_material`, which asks the keyspec's family):
symmetric keyspecs take the raw bytes and check only the length (``KeySpec.import_sizes``: AES
16/24/32 matching the keyspec, SM4 16, HMAC 14..128; Intel's SDK tests send ASCII hex strings of that
length, which are raw bytes like any other); RSA, EC and SM2 keyspecs take an unencrypted PKCS#8
``PrivateKeyInfo`` DER (no trailing bytes; RSA: rsaEncryption of exactly the keyspec's size, EC:
id-ecPublicKey on the keyspec's named curve, SM2: the sm2 curve), fully validated (RSA primality and
consistency, EC/SM2 point and pairwise checks) and stored re-encoded the way generated keys are.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NoReturn

from cryptography.exceptions import UnsupportedAlgorithm

from pyehsm.crypto.family import (
    DecryptionFailed,
    ImportScheme,
    Unwrapper,
    WrappingFamily,
)
from pyehsm.crypto.keyspecs import KeySpec
from pyehsm.crypto.libcrypto import SM2Error
from pyehsm.crypto.rsa import RSA_IMPORT_SCHEMES
from pyehsm.errors import MaterialLengthWrong, MaterialMalformed, MaterialRejected, NotAWrappingKey

__all__ = [
    "IMPORT_PADDINGS",
    "DecryptionFailed",
    "ImportScheme",
    "MaterialRejected",
    "WrappingKey",
    "check_material",
    "import_scheme",
    "material_id",
]

IMPORT_PADDINGS: tuple[str, ...] = tuple(RSA_IMPORT_SCHEMES)


def _wrapping_family(wrapping: KeySpec) -> WrappingFamily | None:
    family = wrapping.family
    return family if isinstance(family, WrappingFamily) else None


def import_scheme(wrapping: KeySpec, padding: str | None) -> ImportScheme:
    """How ImportKeyMaterial's ``padding_mode`` unwraps under a ``wrapping`` key (a domain error if it cannot)."""
    family = _wrapping_family(wrapping)
    if family is None:
        raise NotAWrappingKey(wrapping.name)
    return family.import_scheme(padding)


class WrappingKey:
    """The private half of a wrapping key pair (PKCS#8 DER from the key pool, or from the store)."""

    def __init__(self, spec: KeySpec, pkcs8_der: bytes) -> None:
        """``pkcs8_der`` is material pyehsm generated and stored authenticated (AES-GCM under the domain key)."""
        family = _wrapping_family(spec)
        if family is None:
            raise ValueError("wrapping keys are RSA or SM2")
        self.spec = spec
        self._key: Unwrapper = family.load_wrapping_key(spec, pkcs8_der)
        self.spki_der = self._key.spki_der
        self.public_pem = self._key.public_pem

    def __repr__(self) -> str:
        return f"<WrappingKey {self.spec.name}>"

    def unwrap(self, ciphertext: bytes, scheme: ImportScheme) -> bytes:
        """The material inside ``ciphertext``; DecryptionFailed (one error for every cause) if it does not open."""
        return self._key.unwrap(ciphertext, scheme)

    def __reduce__(self) -> NoReturn:
        raise TypeError("wrapping keys cannot be pickled")


def check_material(spec: KeySpec, material: bytes) -> bytes:
    """The material to store for ``spec`` (raw bytes, or canonical PKCS#8 DER); MaterialRejected otherwise."""
    family = spec.family
    try:
        return family.check_import(spec, material)
    except (ValueError, TypeError, UnsupportedAlgorithm, SM2Error):
        if family.symmetric:
            raise MaterialLengthWrong(spec.name, family.import_rule(spec)) from None
        raise MaterialMalformed(spec.name, family.import_rule(spec)) from None


_MATERIAL_ID_LABEL = b"pyehsm:key-material-id:v1\x00"


def material_id(mac_key: bytes, keyid: str, material: bytes) -> str:
    """The key material's id (AWS's KeyMaterialId: 64 hex digits): HMAC-SHA256 under pyehsm's import-token key of
    the label, the keyid and the material as stored. Keyed, so a copy of the store cannot test guesses of
    material; bound to the key, so one material imported into two keys has two ids. The same material imported
    again into the same key has the same id: how a re-import is checked to bring the key's own material back."""
    return hmac.new(mac_key, _MATERIAL_ID_LABEL + keyid.encode() + b"\x00" + material, hashlib.sha256).hexdigest()
