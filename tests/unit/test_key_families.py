"""The keyspec registry walked row by row: every row's family object implements every operation its usages need.

A row that allows EH_KEYUSAGE_SIGN_VERIFY signs and verifies (its default digest, every message type it
declares); one that allows EH_KEYUSAGE_ENCRYPT_DECRYPT encrypts and decrypts (a SymmetricCipher for the
symmetric families, public-key encryption otherwise); a family with GetPublicKey loads its public key back;
every family generates material and accepts its own material on import; wrapping keyspecs wrap and unwrap.
Adding a family (docs/contributing-key-families.md) is caught here if a capability is missing.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from pyehsm.crypto import blob, symmetric
from pyehsm.crypto.family import (
    DIGEST_SIZES,
    HASHES,
    Decapsulator,
    Encapsulator,
    KeyAgreement,
    KeyFamily,
    KeyPrimitive,
    KeyUsage,
    Operation,
    PublicKeyFamily,
    PublicKeyPrimitive,
    Signer,
    SymmetricCipher,
    SymmetricFamily,
    WrappingFamily,
)
from pyehsm.crypto.key_import import check_material
from pyehsm.crypto.keyspecs import (
    DIGEST_NAMES,
    KEYSPECS,
    MESSAGE_TYPES,
    PADDING_NAMES,
    WRAPPING_KEYSPEC_NAMES,
    KeySpec,
    generate_material,
)

MSG = b"every family, every operation"
SRC = Path(__file__).resolve().parents[2] / "src" / "pyehsm"


@pytest.fixture(scope="module")
def materials() -> dict[str, bytes]:
    """Fresh material for every keyspec row, made by the row's family."""
    return {name: generate_material(spec) for name, spec in KEYSPECS.items()}


def needed_operations(spec: KeySpec) -> set[Operation]:
    """The operations the usages a key of ``spec`` may have can ask for: those wanting the usage, or none."""
    usages = spec.usable_usages()
    return {op for op in Operation if spec.supports(op) and (op.usage is None or op.usage in usages)}


def first(values: frozenset[str]) -> str | None:
    return sorted(values)[0] if values else None


def digest_input(spec: KeySpec, message_type: str) -> bytes:
    if message_type == "EH_RAW":
        return MSG
    return os.urandom(DIGEST_SIZES[spec.default_digest])


def spki_of(public: PublicKeyPrimitive) -> bytes:
    """SubjectPublicKeyInfo DER from the PEM GetPublicKey returns (PKCS#1 for RSA, SPKI otherwise)."""
    pem = public.public_pem()
    if "BEGIN RSA PUBLIC KEY" in pem:
        return serialization.load_pem_public_key(pem.encode()).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return base64.b64decode("".join(pem.strip().splitlines()[1:-1]))


def spki_to_pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    return (
        "-----BEGIN PUBLIC KEY-----\n"
        + "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
        + "\n-----END PUBLIC KEY-----\n"
    )


@pytest.mark.parametrize("name", sorted(KEYSPECS))
def test_the_family_declares_what_the_registry_needs(name: str) -> None:
    spec = KEYSPECS[name]
    family = spec.family
    assert isinstance(family, KeyFamily)
    assert family.operations, name
    assert family.default_usage in spec.usable_usages()
    assert set(spec.usable_usages()) <= set(KeyUsage)
    assert family.digests <= set(DIGEST_NAMES)
    assert family.message_types <= set(MESSAGE_TYPES)
    assert family.sign_paddings <= set(PADDING_NAMES)
    assert family.encrypt_paddings <= set(PADDING_NAMES)
    if Operation.SIGN in family.operations:
        assert spec.default_digest in family.digests and family.message_types, name
    if Operation.PUBLIC_KEY in family.operations:
        assert isinstance(family, PublicKeyFamily), name
    if Operation.ENCRYPT in family.operations:
        assert isinstance(family, SymmetricFamily), name
    assert family.symmetric == spec.symmetric == (spec.key_bytes > 0)
    assert isinstance(family.parse_in_thread, bool) and isinstance(family.pregenerate, bool)


@pytest.mark.parametrize("name", sorted(KEYSPECS))
def test_every_operation_the_usages_need_works(name: str, materials: dict[str, bytes]) -> None:
    spec = KEYSPECS[name]
    family = spec.family
    primitive: Any = spec.load(materials[name])
    needed = needed_operations(spec)
    assert needed, name
    for op in needed:
        if op is Operation.ENCRYPT:
            assert isinstance(primitive, SymmetricCipher), name
            bind = uuid.uuid4().bytes
            sealed = symmetric.encrypt(primitive, 3, MSG, bind, b"aad")
            assert symmetric.decrypt(primitive, blob.unpack(sealed), bind, b"aad") == MSG
            assert isinstance(family, SymmetricFamily)
            other = symmetric.symmetric_cipher(family, materials[name])
            assert symmetric.decrypt(other, blob.unpack(sealed), bind, b"aad") == MSG
        elif op is Operation.ASYMMETRIC_ENCRYPT:
            assert isinstance(primitive, KeyPrimitive), name
            padding = first(family.encrypt_paddings)
            assert primitive.decrypt(primitive.encrypt(MSG, padding), padding) == MSG
        elif op is Operation.SIGN:
            assert isinstance(primitive, Signer), name
            padding = first(family.sign_paddings)
            for message_type in family.message_types:
                data = digest_input(spec, message_type)
                prehashed = message_type == "EH_DIGEST"
                kw: dict[str, Any] = {"digest": spec.default_digest, "prehashed": prehashed, "padding": padding}
                signature = primitive.sign(data, **kw)
                assert primitive.verify(signature, data, **kw), (name, message_type)
                assert not primitive.verify(signature, data + b"x" if not prehashed else bytes(len(data)), **kw)
            for digest in family.digests:
                assert digest in HASHES
        elif op is Operation.ENCAPSULATE:
            assert isinstance(primitive, Encapsulator) and isinstance(primitive, Decapsulator), name
            secret, encapsulation = primitive.encapsulate()
            assert len(secret) == 32 and primitive.decapsulate(encapsulation) == secret
        elif op is Operation.DERIVE_SHARED_SECRET:
            assert isinstance(primitive, KeyAgreement), name
            peer: Any = spec.load(generate_material(spec))
            assert primitive.derive_shared_secret(spki_of(peer)) == peer.derive_shared_secret(spki_of(primitive))
        elif op is Operation.PUBLIC_KEY:
            assert isinstance(family, PublicKeyFamily) and isinstance(primitive, KeyPrimitive), name
            public = family.load_public(spec, spki_of(primitive))
            assert public.public_pem() == primitive.public_pem()
            if Operation.SIGN in family.operations:
                kw = {"digest": spec.default_digest, "prehashed": False, "padding": first(family.sign_paddings)}
                assert public.verify(primitive.sign(MSG, **kw), MSG, **kw)
            if Operation.ASYMMETRIC_ENCRYPT in family.operations:
                padding = first(family.encrypt_paddings)
                assert primitive.decrypt(public.encrypt(MSG, padding), padding) == MSG


@pytest.mark.parametrize("name", sorted(KEYSPECS))
def test_every_family_generates_and_imports_its_own_material(name: str, materials: dict[str, bytes]) -> None:
    spec = KEYSPECS[name]
    material = materials[name]
    assert generate_material(spec) != material
    stored = spec.family.check_import(spec, material)
    assert check_material(spec, material) == stored
    assert type(spec.load(stored)) is type(spec.load(material))
    assert spec.family.import_rule(spec)


@pytest.mark.parametrize("name", WRAPPING_KEYSPEC_NAMES)
def test_every_wrapping_keyspec_wraps_and_unwraps(name: str, materials: dict[str, bytes]) -> None:
    spec = KEYSPECS[name]
    family = spec.family
    assert isinstance(family, WrappingFamily)
    key = family.load_wrapping_key(spec, materials[name])
    for secret in (os.urandom(32), materials["EH_RSA_2048"]):  # fits RSA-OAEP; needs RSA-AES key wrap
        wrapped, padding = family.wrap(spki_to_pem(key.spki_der), secret)
        assert key.unwrap(wrapped, family.import_scheme(padding)) == secret


def test_no_family_dispatch_outside_the_registry() -> None:
    """No ``Family.X``, ``keyspec ==`` or ``spec.name ==`` below the registry (crypto/keyspecs.py)."""
    pattern = re.compile(r"(?<![A-Za-z_])Family\.|keyspec ==|spec\.name ==")
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).as_posix() != "crypto/keyspecs.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
