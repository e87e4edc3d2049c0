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
SM2 wrapping keys (``padding_mode`` ignored)
    SM2 public-key encryption (GB/T 32918.4), GM/T 0009 DER C1C3C2 ciphertext, as made by
    ``openssl pkeyutl -encrypt``; it carries any material up to 6144 bytes directly.

Material, after unwrapping, must fit the target keyspec exactly (:func:`check_material`):
symmetric keyspecs take the raw bytes and check only the length (``KeySpec.import_sizes``: AES
16/24/32 matching the keyspec, SM4 16, HMAC 16..64; Intel's SDK tests send ASCII hex strings of that
length, which are raw bytes like any other); RSA, EC and SM2 keyspecs take an unencrypted PKCS#8
``PrivateKeyInfo`` DER (no trailing bytes; RSA: rsaEncryption of exactly the keyspec's size, EC:
id-ecPublicKey on the keyspec's named curve, SM2: the sm2 curve), fully validated (RSA primality and
consistency, EC/SM2 point and pairwise checks) and stored re-encoded the way generated keys are.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NoReturn

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec as crypto_ec
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from pyehsm.crypto import rsa, sm2
from pyehsm.crypto.asymmetric import DecryptionFailed
from pyehsm.crypto.keyspecs import Family, KeySpec
from pyehsm.errors import (
    MaterialLengthWrong,
    MaterialMalformed,
    MaterialNotImportable,
    MaterialRejected,
    MissingParameter,
    NotAWrappingKey,
    PaddingNotAllowed,
)

__all__ = [
    "IMPORT_PADDINGS",
    "DecryptionFailed",
    "ImportScheme",
    "MaterialRejected",
    "WrappingKey",
    "check_material",
    "import_scheme",
]


class ImportScheme(enum.Enum):
    RSA_PKCS1 = "EH_RSA_PKCS1"
    RSA_OAEP = "EH_RSA_PKCS1_OAEP"
    RSA_AES_KEY_WRAP = "EH_RSA_AES_KEY_WRAP"
    SM2 = "SM2"


RSA_IMPORT_SCHEMES: dict[str, ImportScheme] = {
    "EH_RSA_PKCS1": ImportScheme.RSA_PKCS1,
    "EH_RSA_PKCS1_OAEP": ImportScheme.RSA_OAEP,
    "EH_RSA_AES_KEY_WRAP": ImportScheme.RSA_AES_KEY_WRAP,
}
IMPORT_PADDINGS: tuple[str, ...] = tuple(RSA_IMPORT_SCHEMES)
EPHEMERAL_AES_KEY_BYTES = (16, 24, 32)
_PKCS8 = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


# ------------------------------------------------------------------------------------------------
# the wrapping key pair
# ------------------------------------------------------------------------------------------------


def import_scheme(wrapping: KeySpec, padding: str | None) -> ImportScheme:
    """How ImportKeyMaterial's ``padding_mode`` unwraps under a ``wrapping`` key (a domain error if it cannot)."""
    if wrapping.family is Family.SM2:
        return ImportScheme.SM2
    if wrapping.family is not Family.RSA:
        raise NotAWrappingKey(wrapping.name)
    if padding is None:
        raise MissingParameter("padding_mode")
    scheme = RSA_IMPORT_SCHEMES.get(padding)
    if scheme is None:
        raise PaddingNotAllowed(padding, "import", tuple(IMPORT_PADDINGS))
    return scheme


class WrappingKey:
    """The private half of a wrapping key pair (PKCS#8 DER from the key pool, or from the store)."""

    def __init__(self, spec: KeySpec, pkcs8_der: bytes) -> None:
        """``pkcs8_der`` is material pyehsm generated and stored authenticated (AES-GCM under the domain
        key), so RSA keys skip the slow primality validation that imported keys get."""
        self.spec = spec
        self._rsa: rsa.RsaPrivateKey | None = None
        self._sm2: sm2.SM2PrivateKey | None = None
        if spec.family is Family.RSA:
            key = serialization.load_der_private_key(pkcs8_der, None, unsafe_skip_rsa_key_validation=True)
            if not isinstance(key, crypto_rsa.RSAPrivateKey) or key.key_size != spec.rsa_bits:
                raise ValueError("not a wrapping key of this keyspec")
            self._rsa = rsa.RsaPrivateKey(key)
            self.spki_der = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            self.public_pem = self._rsa.public.to_pem()
        elif spec.family is Family.SM2:
            self._sm2 = sm2.SM2PrivateKey.from_pkcs8_der(pkcs8_der)
            self.spki_der = self._sm2.public_key().to_spki_der()
            self.public_pem = self._sm2.public_key().to_pem()
        else:
            raise ValueError("wrapping keys are RSA or SM2")

    def __repr__(self) -> str:
        return f"<WrappingKey {self.spec.name}>"

    def unwrap(self, ciphertext: bytes, scheme: ImportScheme) -> bytes:
        """The material inside ``ciphertext``; DecryptionFailed (one error for every cause) if it does not open."""
        if scheme is ImportScheme.SM2:
            if self._sm2 is None:
                raise DecryptionFailed
            try:
                return self._sm2.decrypt(ciphertext)
            except sm2.SM2Error:
                raise DecryptionFailed from None
        if self._rsa is None:
            raise DecryptionFailed
        try:
            if scheme is ImportScheme.RSA_OAEP:
                return self._rsa.decrypt(ciphertext, rsa.RsaEncryption.OAEP)
            if scheme is ImportScheme.RSA_PKCS1:
                return self._rsa.decrypt(ciphertext, rsa.RsaEncryption.PKCS1)
            return self._rsa_aes_unwrap(self._rsa, ciphertext)
        except rsa.RsaDecryptionError:
            raise DecryptionFailed from None

    @staticmethod
    def _rsa_aes_unwrap(key: rsa.RsaPrivateKey, ciphertext: bytes) -> bytes:
        k = key.public.key_bytes
        wrapped = ciphertext[k:]
        if len(wrapped) < 16 or len(wrapped) % 8:
            raise DecryptionFailed
        kek = key.decrypt(ciphertext[:k], rsa.RsaEncryption.OAEP)
        if len(kek) not in EPHEMERAL_AES_KEY_BYTES:
            raise DecryptionFailed
        try:
            return aes_key_unwrap_with_padding(kek, wrapped)
        except (InvalidUnwrap, ValueError):
            raise DecryptionFailed from None

    def __reduce__(self) -> NoReturn:
        raise TypeError("wrapping keys cannot be pickled")


# ------------------------------------------------------------------------------------------------
# material checks
# ------------------------------------------------------------------------------------------------


def _der_element(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start of contents, end) of the DER element with ``tag`` at ``pos``; ValueError if there is none."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 3 or pos + count > len(data) or data[pos] == 0:
            raise ValueError
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80:  # not minimal
            raise ValueError
        pos += count
    if pos + length > len(data):
        raise ValueError
    return pos, pos + length


_SEQUENCE, _INTEGER, _OCTET_STRING, _OID = 0x30, 0x02, 0x04, 0x06
OID_RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1
OID_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1 (EC and SM2 keys alike)


def pkcs8_algorithm(der: bytes) -> bytes:
    """The algorithm OID (contents octets) of a PKCS#8 PrivateKeyInfo spanning all of ``der``.

    Only the outer structure is read (RFC 5958: SEQUENCE { version INTEGER, AlgorithmIdentifier
    SEQUENCE { OID, ... }, privateKey OCTET STRING, ... }): it tells PKCS#8 apart from the
    traditional PKCS#1 / SEC 1 encodings, which OpenSSL would load as well. ValueError otherwise.
    """
    start, end = _der_element(der, 0, _SEQUENCE)
    if end != len(der):
        raise ValueError
    _, pos = _der_element(der, start, _INTEGER)
    alg_start, alg_end = _der_element(der, pos, _SEQUENCE)
    oid_start, oid_end = _der_element(der, alg_start, _OID)
    _der_element(der, alg_end, _OCTET_STRING)
    return der[oid_start:oid_end]


def _rsa_material(spec: KeySpec, der: bytes) -> bytes:
    if pkcs8_algorithm(der) != OID_RSA_ENCRYPTION:
        raise ValueError
    key = serialization.load_der_private_key(der, None)  # full validation: primality, consistency
    if not isinstance(key, crypto_rsa.RSAPrivateKey) or key.key_size != spec.rsa_bits:
        raise ValueError
    return key.private_bytes(*_PKCS8)


def _ec_material(spec: KeySpec, der: bytes) -> bytes:
    if pkcs8_algorithm(der) != OID_EC_PUBLIC_KEY:
        raise ValueError
    key = serialization.load_der_private_key(der, None)  # point on the curve, public point == d*G
    if not isinstance(key, crypto_ec.EllipticCurvePrivateKey) or key.curve.name != spec.curve:
        raise ValueError
    return key.private_bytes(*_PKCS8)


def _sm2_material(_spec: KeySpec, der: bytes) -> bytes:
    pkcs8_algorithm(der)
    # Strict PKCS#8, the sm2 curve, 1 <= d < n and the embedded public point equal to d*G.
    return sm2.SM2PrivateKey.from_pkcs8_der(der).to_pkcs8_der()


# family -> (check returning the material to store, the rule named in the error message)
_ASYMMETRIC: dict[Family, tuple[Callable[[KeySpec, bytes], bytes], Callable[[KeySpec], str]]] = {
    Family.RSA: (_rsa_material, lambda s: f"an unencrypted PKCS#8 DER RSA-{s.rsa_bits} private key"),
    Family.EC: (_ec_material, lambda s: f"an unencrypted PKCS#8 DER EC private key on curve {s.curve}"),
    Family.SM2: (_sm2_material, lambda s: "an unencrypted PKCS#8 DER SM2 private key"),
}


def _sizes(spec: KeySpec) -> str:
    sizes = spec.import_sizes
    if len(sizes) == 1:
        return f"{sizes[0]} bytes"
    if sizes == tuple(range(sizes[0], sizes[-1] + 1)):
        return f"{sizes[0]} to {sizes[-1]} bytes"
    return " or ".join(str(n) for n in sizes) + " bytes"  # pragma: no cover - no such keyspec today


def check_material(spec: KeySpec, material: bytes) -> bytes:
    """The material to store for ``spec`` (raw bytes, or canonical PKCS#8 DER); MaterialRejected otherwise."""
    if spec.symmetric:
        if len(material) not in spec.import_sizes:
            raise MaterialLengthWrong(spec.name, _sizes(spec))
        return bytes(material)
    entry = _ASYMMETRIC.get(spec.family)
    if entry is None:  # pragma: no cover - every asymmetric family is listed
        raise MaterialNotImportable(spec.name)
    check, rule = entry
    try:
        return check(spec, material)
    except (ValueError, TypeError, UnsupportedAlgorithm, sm2.SM2Error):
        raise MaterialMalformed(spec.name, rule(spec)) from None
