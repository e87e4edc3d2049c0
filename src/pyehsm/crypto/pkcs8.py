"""The outer structure of PKCS#8 PrivateKeyInfo DER, read strictly (no BER, no trailing bytes).

Used by the key-pair families to tell PKCS#8 apart from the traditional PKCS#1 / SEC 1 encodings (which
OpenSSL would load as well) before they validate imported material.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

PKCS8_ENCODING = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
_SEQUENCE, _INTEGER, _OCTET_STRING, _OID = 0x30, 0x02, 0x04, 0x06
OID_RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1
OID_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1 (EC and SM2 keys alike)


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


def pkcs8_algorithm(der: bytes) -> bytes:
    """The algorithm OID (contents octets) of a PKCS#8 PrivateKeyInfo spanning all of ``der``.

    Only the outer structure is read (RFC 5958: SEQUENCE { version INTEGER, AlgorithmIdentifier
    SEQUENCE { OID, ... }, privateKey OCTET STRING, ... }). ValueError otherwise.
    """
    start, end = _der_element(der, 0, _SEQUENCE)
    if end != len(der):
        raise ValueError
    _, pos = _der_element(der, start, _INTEGER)
    alg_start, alg_end = _der_element(der, pos, _SEQUENCE)
    oid_start, oid_end = _der_element(der, alg_start, _OID)
    _der_element(der, alg_end, _OCTET_STRING)
    return der[oid_start:oid_end]


def reencode_pkcs8(material: bytes, oid: bytes, kind: type[Any]) -> bytes:
    """Imported PKCS#8 DER of algorithm ``oid`` holding a ``kind`` private key, re-encoded canonically;
    ValueError for anything else (the families' check_import contract)."""
    if pkcs8_algorithm(material) != oid:
        raise ValueError
    try:
        key = serialization.load_der_private_key(material, None)
    except UnsupportedAlgorithm:
        raise ValueError from None
    if not isinstance(key, kind):
        raise ValueError
    return key.private_bytes(*PKCS8_ENCODING)  # type: ignore[no-any-return]
