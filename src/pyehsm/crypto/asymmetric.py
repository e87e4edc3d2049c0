"""The private- and public-key primitives of the signing and public-key-encryption families, behind one
interface (:class:`~pyehsm.crypto.family.KeyPrimitive`), loaded by the keyspec's family object.

``load_key(spec, material)`` turns a key version's material (PKCS#8 DER for RSA/EC/SM2, raw bytes for HMAC)
into a :class:`KeyPrimitive`; ``load_public_key(spec, spki_der)`` does the same for a public key. The rules
of each family live in its module (:mod:`pyehsm.crypto.rsa`, :mod:`~pyehsm.crypto.ec`,
:mod:`~pyehsm.crypto.sm2`, :mod:`~pyehsm.crypto.hmac`); nothing here names a family.

Wire parameters, as docs/protocol.md section 4 defines them:

* ``digest``: an EH_* digest name (EH_SHA_224/256/384/512, EH_SM3). RSA and ECDSA take the SHA-2
  family; SM2 takes only EH_SM3; HMAC takes any of them (``KeyFamily.digests``).
* ``prehashed`` (message_type EH_DIGEST): the message *is* the digest and must have the digest's size.
  SM2 signs SM3-with-identity over the bytes it is given for both message types (see
  :mod:`pyehsm.crypto.sm2`). HMAC refuses EH_DIGEST (``KeyFamily.message_types``).
* ``padding``: RSA signatures take EH_RSA_PKCS1 or EH_RSA_PKCS1_PSS (PSS: MGF1 with the message hash,
  salt length = digest length when signing, any salt length accepted when verifying); RSA encryption
  takes EH_RSA_PKCS1 or EH_RSA_PKCS1_OAEP (SHA-256, MGF1-SHA-256). ECDSA, SM2 and HMAC ignore padding.
* Signatures: raw k-byte integers for RSA, DER ``SEQUENCE {r, s}`` for ECDSA and SM2, the full-length
  tag for HMAC. SM2 ciphertexts are GM/T 0009 DER (C1C3C2).
* RSA PKCS#1 v1.5 decryption uses implicit rejection (see :mod:`pyehsm.crypto.rsa`): a ciphertext with
  bad padding yields a pseudo-random plaintext instead of an error, so there is no padding oracle.

Errors: parameters a key cannot take raise the domain errors of :mod:`pyehsm.errors` (no wire text);
:class:`PlaintextTooLong` carries the limit;
:class:`DecryptionFailed` and :class:`KeyMaterialError` carry nothing about the data or the key.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization

from pyehsm.crypto.family import (
    HASHES,
    MESSAGE_TYPE_PREHASHED,
    DecryptionFailed,
    KeyMaterialError,
    KeyPrimitive,
    Operation,
    PlaintextTooLong,
    PublicKeyFamily,
    PublicKeyPrimitive,
)
from pyehsm.crypto.keyspecs import KeySpec

__all__ = [
    "HASHES",
    "MESSAGE_TYPE_PREHASHED",
    "DecryptionFailed",
    "KeyMaterialError",
    "KeyPrimitive",
    "PlaintextTooLong",
    "PublicKeyPrimitive",
    "load_key",
    "load_public_key",
    "spki_der",
]

# The operations served by a KeyPrimitive; a family with none of them (AES, SM4) loads something else.
_KEY_PRIMITIVE_OPERATIONS = frozenset({Operation.SIGN, Operation.ASYMMETRIC_ENCRYPT, Operation.PUBLIC_KEY})


def load_key(spec: KeySpec, material: bytes) -> KeyPrimitive:
    """The primitive for one key version's material; KeyMaterialError if it is not a key of ``spec``."""
    if not spec.family.operations & _KEY_PRIMITIVE_OPERATIONS:
        raise KeyMaterialError
    key: KeyPrimitive = spec.load(material)
    return key


def load_public_key(spec: KeySpec, spki_der: bytes) -> PublicKeyPrimitive:
    """A verify/encrypt primitive from a DER SubjectPublicKeyInfo of a ``spec`` key."""
    family = spec.family
    if not isinstance(family, PublicKeyFamily):
        raise KeyMaterialError
    return family.load_public(spec, spki_der)


_PKCS1_RSA_PEM = "-----BEGIN RSA PUBLIC KEY-----"


def spki_der(public_pem: str) -> bytes:
    """The DER SubjectPublicKeyInfo of a primitive's ``public_pem()``: RSA keys give PKCS#1 PEM (what the eHSM
    door answers), re-encoded here; EC, SM2 and the others give SubjectPublicKeyInfo PEM already."""
    if public_pem.lstrip().startswith(_PKCS1_RSA_PEM):
        key = serialization.load_pem_public_key(public_pem.encode("ascii"))
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = "".join(line for line in public_pem.strip().splitlines() if not line.startswith("-----"))
    return base64.b64decode(body)
