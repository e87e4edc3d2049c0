"""The AWS door's HMAC key specs (named by key length) and the RSA family's OAEP-SHA1 padding (AWS-only)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from pyehsm.crypto import asymmetric
from pyehsm.crypto.family import PlaintextTooLong
from pyehsm.crypto.keyspecs import generate_material, keyspec
from pyehsm.crypto.rsa import OAEP_SHA1
from pyehsm.errors import PaddingNotAllowed
from pyehsm.protocols.awskms import keyspecs as k


@pytest.mark.parametrize(
    ("size", "spec"),
    [
        (14, "HMAC_224"),
        (28, "HMAC_224"),
        (31, "HMAC_224"),
        (32, "HMAC_256"),
        (47, "HMAC_256"),
        (48, "HMAC_384"),
        (63, "HMAC_384"),
        (64, "HMAC_512"),
        (128, "HMAC_512"),
    ],
)
def test_hmac_spec_of_a_key_length(size: int, spec: str) -> None:
    assert k.hmac_spec(size) == spec


@pytest.mark.parametrize("spec", list(k.HMAC_KEY_BYTES))
def test_created_hmac_keys_have_their_specs_length(spec: str) -> None:
    made = k.create_keyspec(spec)
    assert made.name == "EH_HMAC" and len(generate_material(made)) == k.HMAC_KEY_BYTES[spec]
    assert k.hmac_spec(made.key_bytes) == spec and k.MAC_ALGORITHM_OF[spec] == "HMAC_SHA_" + spec[5:]
    assert k.aws_spec("EH_HMAC") == "HMAC_256" and k.aws_spec("EH_HMAC", made.key_bytes) == spec


def test_rsa_oaep_sha1_interoperates_and_stays_off_the_ehsm_list() -> None:
    spec = keyspec("EH_RSA_2048")
    pair = spec.load(generate_material(spec))
    public = serialization.load_der_public_key(asymmetric.spki_der(pair.public_pem()))
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    assert pair.decrypt(public.encrypt(b"x" * 214, sha1), OAEP_SHA1) == b"x" * 214  # type: ignore[union-attr]
    with pytest.raises(PlaintextTooLong):
        pair.encrypt(b"x" * 215, OAEP_SHA1)
    with pytest.raises(PaddingNotAllowed) as refused:
        pair.encrypt(b"x", "EH_RSA_PKCS1_OAEP_SHA256")
    assert OAEP_SHA1 not in refused.value.allowed  # the eHSM door's messages list only its own names
