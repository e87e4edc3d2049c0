"""The AWS KMS door's cryptographic operations beyond Encrypt/Decrypt/Sign, through boto3 against a real server:
ReEncrypt, GenerateDataKeyPair(WithoutPlaintext), GenerateRandom, HMAC keys with GenerateMac/VerifyMac, and
RSAES_OAEP_SHA_1; each with the error classes AWS answers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from pyehsm.client import Client
from pyehsm.crypto.keyspecs import keyspec
from tests.support.aws import kms
from tests.support.server import ServerProcess


@pytest.fixture
def aws(server: ServerProcess, client: Client) -> Iterator[Any]:
    yield kms(server.url, client.appid, client.apikey)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _key(aws: Any, spec: str = "SYMMETRIC_DEFAULT", usage: str = "ENCRYPT_DECRYPT") -> str:
    return str(aws.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"])


# -- ReEncrypt ---------------------------------------------------------------------------------------------


def test_reencrypt_symmetric_without_source_key_id(aws: Any) -> None:
    source, destination = _key(aws), _key(aws)
    blob = aws.encrypt(KeyId=source, Plaintext=b"moving", EncryptionContext={"a": "1"})["CiphertextBlob"]
    out = aws.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"a": "1"},
        DestinationKeyId=destination,
        DestinationEncryptionContext={"b": "2"},
    )
    assert out["SourceKeyId"].endswith(f":key/{source}") and out["KeyId"].endswith(f":key/{destination}")
    assert out["SourceEncryptionAlgorithm"] == out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert out["CiphertextBlob"] != blob
    back = aws.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"b": "2"})  # no KeyId: keyed blob
    assert back["Plaintext"] == b"moving" and back["KeyId"].endswith(destination)
    with pytest.raises(ClientError) as exc:  # the new ciphertext is bound to the destination context
        aws.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"a": "1"})
    assert _code(exc) == "InvalidCiphertextException"


def test_reencrypt_same_key_changes_context_and_moves_to_the_primary_version(aws: Any, client: Client) -> None:
    keyid = _key(aws)
    blob = aws.encrypt(KeyId=keyid, Plaintext=b"rotate me")["CiphertextBlob"]
    client.rotate_key(keyid)  # the eHSM door's RotateKey: version 2 becomes primary
    out = aws.re_encrypt(
        CiphertextBlob=blob, SourceKeyId=keyid, DestinationKeyId=keyid, DestinationEncryptionContext={"c": "3"}
    )
    back = aws.decrypt(KeyId=keyid, CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"c": "3"})
    assert back["Plaintext"] == b"rotate me"
    assert aws.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"c": "3"})["Plaintext"] == b"rotate me"
    ehsm = client.reencrypt(keyid, out["CiphertextBlob"], b'{"c":"3"}')  # the eHSM door names the versions
    assert (ehsm.source_key_version, ehsm.key_version) == (2, 2)  # ReEncrypt made it under the primary (2)


def test_reencrypt_errors(aws: Any) -> None:
    source, destination, other = _key(aws), _key(aws), _key(aws)
    blob = aws.encrypt(KeyId=source, Plaintext=b"x", EncryptionContext={"a": "1"})["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:  # wrong source context
        aws.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "2"}, DestinationKeyId=destination)
    assert _code(exc) == "InvalidCiphertextException"
    with pytest.raises(ClientError) as exc:  # a SourceKeyId that did not encrypt the ciphertext
        aws.re_encrypt(
            CiphertextBlob=blob, SourceKeyId=other, SourceEncryptionContext={"a": "1"}, DestinationKeyId=destination
        )
    assert _code(exc) == "IncorrectKeyException"
    with pytest.raises(ClientError) as exc:
        aws.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"}, DestinationKeyId=_nil())
    assert _code(exc) == "NotFoundException" and "DestinationKeyId" in str(exc.value)
    aws.disable_key(KeyId=destination)
    with pytest.raises(ClientError) as exc:
        aws.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"}, DestinationKeyId=destination)
    assert _code(exc) == "DisabledException"
    signer = _key(aws, "ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        aws.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"}, DestinationKeyId=signer)
    assert _code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:  # asymmetric source: SourceKeyId is required
        aws.re_encrypt(CiphertextBlob=blob, SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256", DestinationKeyId=other)
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:  # no context with an asymmetric destination
        aws.re_encrypt(
            CiphertextBlob=blob,
            SourceEncryptionContext={"a": "1"},
            DestinationKeyId=_key(aws, "RSA_2048"),
            DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
            DestinationEncryptionContext={"b": "1"},
        )
    assert _code(exc) == "ValidationException"


def _nil() -> str:
    return "00000000-0000-4000-8000-000000000000"


def test_reencrypt_asymmetric_source_and_destination(aws: Any) -> None:
    rsa_key, sm2_key, aes = _key(aws, "RSA_3072"), _key(aws, "SM2"), _key(aws)
    public = serialization.load_der_public_key(aws.get_public_key(KeyId=rsa_key)["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    outside = public.encrypt(
        b"made outside", padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    )
    to_aes = aws.re_encrypt(
        CiphertextBlob=outside,
        SourceKeyId=rsa_key,
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
        DestinationKeyId=aes,
    )
    assert to_aes["SourceEncryptionAlgorithm"] == "RSAES_OAEP_SHA_1"
    assert aws.decrypt(CiphertextBlob=to_aes["CiphertextBlob"])["Plaintext"] == b"made outside"
    to_sm2 = aws.re_encrypt(
        CiphertextBlob=to_aes["CiphertextBlob"], DestinationKeyId=sm2_key, DestinationEncryptionAlgorithm="SM2PKE"
    )
    assert to_sm2["DestinationEncryptionAlgorithm"] == "SM2PKE"
    back = aws.decrypt(KeyId=sm2_key, CiphertextBlob=to_sm2["CiphertextBlob"], EncryptionAlgorithm="SM2PKE")
    assert back["Plaintext"] == b"made outside"
    with pytest.raises(ClientError) as exc:  # the algorithm must be the key's: SM2 keys take SM2PKE only
        aws.re_encrypt(
            CiphertextBlob=to_aes["CiphertextBlob"],
            DestinationKeyId=sm2_key,
            DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
        )
    assert _code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:  # a SHA-256 ciphertext named as SHA-1
        aws.re_encrypt(
            CiphertextBlob=public.encrypt(
                b"x", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
            ),
            SourceKeyId=rsa_key,
            SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
            DestinationKeyId=aes,
        )
    assert _code(exc) == "InvalidCiphertextException"


# -- RSAES_OAEP_SHA_1 --------------------------------------------------------------------------------------


def test_rsaes_oaep_sha_1_encrypt_decrypt_and_algorithm_lists(aws: Any) -> None:
    keyid = _key(aws, "RSA_2048")
    listed = aws.get_public_key(KeyId=keyid)
    assert listed["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    public = serialization.load_der_public_key(listed["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert listed["PublicKey"] == der  # SubjectPublicKeyInfo, as AWS answers (not PKCS#1)
    sha1 = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    ct = public.encrypt(b"legacy client", sha1)
    out = aws.decrypt(KeyId=keyid, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert out["Plaintext"] == b"legacy client" and out["EncryptionAlgorithm"] == "RSAES_OAEP_SHA_1"
    made = aws.encrypt(KeyId=keyid, Plaintext=b"y" * 214, EncryptionAlgorithm="RSAES_OAEP_SHA_1")["CiphertextBlob"]
    assert aws.decrypt(KeyId=keyid, CiphertextBlob=made, EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] == (
        b"y" * 214
    )
    with pytest.raises(ClientError) as exc:  # OAEP-SHA-1 on a 2048-bit key takes at most 256 - 42 bytes
        aws.encrypt(KeyId=keyid, Plaintext=b"y" * 215, EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:  # a SHA-1 ciphertext does not decrypt as SHA-256
        aws.decrypt(KeyId=keyid, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert _code(exc) == "InvalidCiphertextException"
    with pytest.raises(ClientError) as exc:
        aws.encrypt(KeyId=keyid, Plaintext=b"y", EncryptionAlgorithm="SM2PKE")
    assert _code(exc) == "InvalidKeyUsageException"


def test_rsaes_oaep_sha_1_is_not_an_ehsm_padding(client: Client) -> None:
    keyid = client.create_key("EH_RSA_2048", keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT")
    with pytest.raises(Exception, match="padding_mode"):
        client.asymmetric_encrypt(keyid, b"x", "EH_RSA_PKCS1_OAEP_SHA1")


# -- GenerateDataKeyPair -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("RSA_2048", rsa.RSAPrivateKey),
        ("ECC_NIST_P256", ec.EllipticCurvePrivateKey),
        ("ECC_NIST_P384", ec.EllipticCurvePrivateKey),
        ("ECC_NIST_P521", ec.EllipticCurvePrivateKey),
        ("ECC_SECG_P256K1", ec.EllipticCurvePrivateKey),
        ("ECC_NIST_EDWARDS25519", ed25519.Ed25519PrivateKey),
    ],
)
def test_generate_data_key_pair(aws: Any, spec: str, kind: type) -> None:
    keyid = _key(aws)
    context = {"purpose": "pair"}
    out = aws.generate_data_key_pair(KeyId=keyid, KeyPairSpec=spec, EncryptionContext=context)
    assert out["KeyPairSpec"] == spec and out["KeyId"].endswith(keyid)
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], None)  # PKCS#8 DER
    assert isinstance(private, kind)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert out["PublicKey"] == public
    back = aws.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext=context)
    assert back["Plaintext"] == out["PrivateKeyPlaintext"]
    with pytest.raises(ClientError) as exc:
        aws.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"purpose": "other"})
    assert _code(exc) == "InvalidCiphertextException"


def test_generate_data_key_pair_rsa_4096_and_sm2_without_plaintext(aws: Any) -> None:
    keyid = _key(aws)
    out = aws.generate_data_key_pair_without_plaintext(KeyId=keyid, KeyPairSpec="RSA_4096")
    assert "PrivateKeyPlaintext" not in out and out["KeyPairSpec"] == "RSA_4096"
    private = serialization.load_der_private_key(
        aws.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"], None
    )
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 4096
    assert out["PublicKey"] == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sm2 = aws.generate_data_key_pair(KeyId=keyid, KeyPairSpec="SM2")
    assert aws.decrypt(CiphertextBlob=sm2["PrivateKeyCiphertextBlob"])["Plaintext"] == sm2["PrivateKeyPlaintext"]
    assert sm2["PublicKey"].startswith(b"\x30") and len(sm2["PublicKey"]) == 91  # SPKI of an SM2 point


def test_generate_data_key_pair_errors(aws: Any) -> None:
    keyid = _key(aws)
    with pytest.raises(ClientError) as exc:
        aws.generate_data_key_pair(KeyId=_key(aws, "RSA_2048"), KeyPairSpec="ECC_NIST_P256")
    assert _code(exc) == "InvalidKeyUsageException"  # the private key is sealed under a symmetric key only
    with pytest.raises(ClientError) as exc:
        aws.generate_data_key_pair(KeyId=keyid, KeyPairSpec="ML_KEM_512")
    assert _code(exc) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as exc:
        aws.generate_data_key_pair(KeyId=_nil(), KeyPairSpec="ECC_NIST_P256")
    assert _code(exc) == "NotFoundException"
    aws.disable_key(KeyId=keyid)
    with pytest.raises(ClientError) as exc:
        aws.generate_data_key_pair_without_plaintext(KeyId=keyid, KeyPairSpec="ECC_NIST_P256")
    assert _code(exc) == "DisabledException"


# -- GenerateRandom ----------------------------------------------------------------------------------------


def test_generate_random(aws: Any, server: ServerProcess, client: Client) -> None:
    raw = kms(server.url, client.appid, client.apikey, validate=False)
    assert len(aws.generate_random(NumberOfBytes=1)["Plaintext"]) == 1
    a, b = (aws.generate_random(NumberOfBytes=1024)["Plaintext"] for _ in range(2))
    assert len(a) == len(b) == 1024 and a != b
    for size in (0, 1025):
        with pytest.raises(ClientError) as exc:
            raw.generate_random(NumberOfBytes=size)
        assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        raw.generate_random()
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        aws.generate_random(NumberOfBytes=16, CustomKeyStoreId="cks-1234567890abcdef0")
    assert _code(exc) == "CustomKeyStoreNotFoundException"


# -- HMAC keys ---------------------------------------------------------------------------------------------

_HMAC = {"HMAC_224": (28, hashlib.sha224), "HMAC_256": (32, hashlib.sha256), "HMAC_384": (48, hashlib.sha384)}
_HMAC["HMAC_512"] = (64, hashlib.sha512)


@pytest.mark.parametrize("spec", list(_HMAC))
def test_hmac_keys_generate_and_verify_mac(aws: Any, spec: str) -> None:
    meta = aws.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    algorithm = "HMAC_SHA_" + spec[5:]
    assert (meta["KeySpec"], meta["KeyUsage"], meta["MacAlgorithms"]) == (spec, "GENERATE_VERIFY_MAC", [algorithm])
    keyid = meta["KeyId"]
    out = aws.generate_mac(KeyId=keyid, Message=b"message", MacAlgorithm=algorithm)
    assert out["MacAlgorithm"] == algorithm and len(out["Mac"]) == _HMAC[spec][1]().digest_size
    ok = aws.verify_mac(KeyId=keyid, Message=b"message", MacAlgorithm=algorithm, Mac=out["Mac"])
    assert ok["MacValid"] is True and ok["KeyId"].endswith(keyid)
    with pytest.raises(ClientError) as exc:
        aws.verify_mac(KeyId=keyid, Message=b"messagf", MacAlgorithm=algorithm, Mac=out["Mac"])
    assert _code(exc) == "KMSInvalidMacException"
    with pytest.raises(ClientError) as exc:  # truncated MACs never verify
        aws.verify_mac(KeyId=keyid, Message=b"message", MacAlgorithm=algorithm, Mac=out["Mac"][:16])
    assert _code(exc) == "KMSInvalidMacException"
    wrong = "HMAC_SHA_512" if spec != "HMAC_512" else "HMAC_SHA_256"
    with pytest.raises(ClientError) as exc:  # the MacAlgorithm must be the key spec's
        aws.generate_mac(KeyId=keyid, Message=b"message", MacAlgorithm=wrong)
    assert _code(exc) == "InvalidKeyUsageException"


def test_hmac_key_spec_follows_the_key_length(aws: Any, client: Client) -> None:
    """An eHSM-door EH_HMAC key (32 bytes) is an HMAC_256 key on the AWS door, and one key on both doors."""
    meta = aws.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    mac = aws.generate_mac(KeyId=meta["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"]
    assert len(mac) == 48
    ehsm_key = client.create_key("EH_HMAC", keyusage="EH_KEYUSAGE_SIGN_VERIFY")  # 32 bytes: HMAC_256
    with pytest.raises(ClientError) as exc:
        aws.generate_mac(KeyId=ehsm_key, Message=b"m", MacAlgorithm="HMAC_SHA_384")
    assert _code(exc) == "InvalidKeyUsageException"
    both = aws.generate_mac(KeyId=ehsm_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert client.verify_mac(ehsm_key, b"m", both, "HMAC_SHA_256")  # one key on both doors


def test_hmac_key_refusals(aws: Any) -> None:
    with pytest.raises(ClientError) as exc:  # HMAC keys take GENERATE_VERIFY_MAC only (and need it said)
        aws.create_key(KeySpec="HMAC_256")
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        aws.create_key(KeySpec="HMAC_256", KeyUsage="SIGN_VERIFY")
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        aws.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="GENERATE_VERIFY_MAC")
    assert _code(exc) == "ValidationException"
    keyid = aws.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        aws.encrypt(KeyId=keyid, Plaintext=b"x")
    assert _code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        aws.sign(KeyId=keyid, Message=b"x", SigningAlgorithm="ECDSA_SHA_256")
    assert _code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        aws.generate_mac(KeyId=_key(aws), Message=b"x", MacAlgorithm="HMAC_SHA_256")
    assert _code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        aws.generate_mac(KeyId=keyid, Message=b"x" * 4097, MacAlgorithm="HMAC_SHA_256")
    assert _code(exc) == "ValidationException"
    aws.disable_key(KeyId=keyid)
    with pytest.raises(ClientError) as exc:
        aws.generate_mac(KeyId=keyid, Message=b"x", MacAlgorithm="HMAC_SHA_256")
    assert _code(exc) == "DisabledException"


def test_hmac_mac_matches_a_local_hmac_of_an_imported_ehsm_key(aws: Any, client: Client) -> None:
    """A MAC made by the AWS door is the standard HMAC of the key (an eHSM-door key whose bytes the test knows)."""
    material = bytes(range(64))
    keyid = client.create_key("EH_HMAC", keyusage="EH_KEYUSAGE_SIGN_VERIFY", origin="EH_EXTERNAL_KEY")
    params = client.get_parameters_for_import(keyid, "EH_RSA_3072")
    wrapped, padding_mode = keyspec("EH_RSA_3072").family.wrap(params.pubkey, material)  # type: ignore[attr-defined]
    assert client.import_key_material(keyid, wrapped, params.import_token, padding_mode)
    mac = aws.generate_mac(KeyId=keyid, Message=b"known", MacAlgorithm="HMAC_SHA_512")["Mac"]
    assert mac == hmac.new(material, b"known", hashlib.sha512).digest()
