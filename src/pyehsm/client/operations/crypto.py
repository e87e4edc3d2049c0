"""Request builders of the crypto Actions: symmetric, data keys, batches, MACs, randomness, key encapsulation and
agreement, asymmetric encryption and signatures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pyehsm.client.models import (
    BatchItem,
    DataKey,
    Encapsulation,
    b64,
    unb64,
)
from pyehsm.client.operations.call import Call, _b64_field, _opt_b64, _payload, _truthy

T = TypeVar("T")


DEFAULT_ASYMMETRIC_PADDING = "EH_RSA_PKCS1_OAEP"
DEFAULT_SIGN_PADDING = "EH_RSA_PKCS1_PSS"
DEFAULT_DIGEST: str | None = None  # None: the keyspec's own (pyehsm: EH_SHA_256, EH_SM3 for SM2)
DEFAULT_MESSAGE_TYPE = "EH_RAW"


# -- symmetric crypto and data keys -----------------------------------------------------------------
def encrypt(keyid: str, plaintext: bytes, aad: bytes | None = None) -> Call[bytes]:
    return Call("Encrypt", _payload(keyid=keyid, plaintext=b64(plaintext), aad=_opt_b64(aad)), _b64_field("ciphertext"))


def decrypt(keyid: str, ciphertext: bytes, aad: bytes | None = None) -> Call[bytes]:
    return Call(
        "Decrypt", _payload(keyid=keyid, ciphertext=b64(ciphertext), aad=_opt_b64(aad)), _b64_field("plaintext")
    )


def generate_data_key(keyid: str, keylen: int, aad: bytes | None = None) -> Call[DataKey]:
    def parse(result: dict[str, Any]) -> DataKey:
        return DataKey(unb64(str(result["plaintext"])), unb64(str(result["ciphertext"])))

    return Call("GenerateDataKey", _payload(keyid=keyid, keylen=keylen, aad=_opt_b64(aad)), parse)


def generate_data_key_without_plaintext(keyid: str, keylen: int, aad: bytes | None = None) -> Call[bytes]:
    return Call(
        "GenerateDataKeyWithoutPlaintext",
        _payload(keyid=keyid, keylen=keylen, aad=_opt_b64(aad)),
        _b64_field("ciphertext"),
    )


def export_data_key(
    keyid: str, ukeyid: str, olddatakey: bytes, aad: bytes | None = None, padding_mode: str | None = None
) -> Call[bytes]:
    # `olddatakey_base` is the Intel server's name; pyehsm accepts it as well as the other two spellings.
    payload = _payload(
        keyid=keyid, ukeyid=ukeyid, olddatakey_base=b64(olddatakey), aad=_opt_b64(aad), padding_mode=padding_mode
    )
    return Call("ExportDataKey", payload, _b64_field("newdatakey"))


# -- batches ------------------------------------------------------------------------------------------
EncryptItem = tuple[str, bytes] | tuple[str, bytes, bytes | None]  # (keyid, plaintext[, aad])
DecryptItem = tuple[str, bytes] | tuple[str, bytes, bytes | None]  # (keyid, ciphertext[, aad])
DataKeyItem = tuple[str, int] | tuple[str, int, bytes | None]  # (keyid, keylen[, aad])
DecapsulateItem = tuple[str, bytes]  # (keyid, KEM ciphertext)


def _aad_of(item: tuple[Any, ...]) -> str | None:
    return _opt_b64(item[2]) if len(item) > 2 else None


def _batch(parse_one: Callable[[dict[str, Any]], T]) -> Callable[[dict[str, Any]], list[BatchItem[T]]]:
    def parse(result: dict[str, Any]) -> list[BatchItem[T]]:
        return [BatchItem.from_envelope(entry, parse_one) for entry in result.get("items") or ()]

    return parse


def batch_encrypt(items: list[EncryptItem]) -> Call[list[BatchItem[bytes]]]:
    payload = [_payload(keyid=i[0], plaintext=b64(i[1]), aad=_aad_of(i)) for i in items]
    return Call("BatchEncrypt", {"items": payload}, _batch(_b64_field("ciphertext")))


def batch_decrypt(items: list[DecryptItem]) -> Call[list[BatchItem[bytes]]]:
    payload = [_payload(keyid=i[0], ciphertext=b64(i[1]), aad=_aad_of(i)) for i in items]
    return Call("BatchDecrypt", {"items": payload}, _batch(_b64_field("plaintext")))


def batch_generate_data_key(items: list[DataKeyItem]) -> Call[list[BatchItem[DataKey]]]:
    def parse_one(result: dict[str, Any]) -> DataKey:
        return DataKey(unb64(str(result["plaintext"])), unb64(str(result["ciphertext"])))

    payload = [_payload(keyid=i[0], keylen=i[1], aad=_aad_of(i)) for i in items]
    return Call("BatchGenerateDataKey", {"items": payload}, _batch(parse_one))


def batch_decapsulate(items: list[DecapsulateItem]) -> Call[list[BatchItem[bytes]]]:
    payload = [{"keyid": keyid, "ciphertext": b64(ciphertext)} for keyid, ciphertext in items]
    return Call("BatchDecapsulate", {"items": payload}, _batch(_b64_field("sharedSecret")))


# -- MACs and randomness ----------------------------------------------------------------------------
DEFAULT_MAC_ALGORITHM = "HMAC_SHA_256"


def generate_mac(keyid: str, message: bytes, mac_algorithm: str = DEFAULT_MAC_ALGORITHM) -> Call[bytes]:
    payload = {"keyid": keyid, "message": b64(message), "macAlgorithm": mac_algorithm}
    return Call("GenerateMac", payload, _b64_field("mac"))


def verify_mac(keyid: str, message: bytes, mac: bytes, mac_algorithm: str = DEFAULT_MAC_ALGORITHM) -> Call[bool]:
    payload = {"keyid": keyid, "message": b64(message), "macAlgorithm": mac_algorithm, "mac": b64(mac)}
    return Call("VerifyMac", payload, _truthy)


def generate_random(number_of_bytes: int) -> Call[bytes]:
    return Call("GenerateRandom", {"numberOfBytes": number_of_bytes}, _b64_field("plaintext"))


# -- key encapsulation (ML-KEM) -----------------------------------------------------------------------
def encapsulate(keyid: str) -> Call[Encapsulation]:
    def parse(result: dict[str, Any]) -> Encapsulation:
        return Encapsulation(unb64(str(result["sharedSecret"])), unb64(str(result["ciphertext"])))

    return Call("Encapsulate", {"keyid": keyid}, parse)


def decapsulate(keyid: str, ciphertext: bytes) -> Call[bytes]:
    return Call("Decapsulate", {"keyid": keyid, "ciphertext": b64(ciphertext)}, _b64_field("sharedSecret"))


def derive_shared_secret(keyid: str, public_key: bytes | str) -> Call[bytes]:
    """``public_key``: the peer's DER SubjectPublicKeyInfo (bytes) or PEM text (str)."""
    peer = public_key if isinstance(public_key, str) else b64(public_key)
    return Call("DeriveSharedSecret", {"keyid": keyid, "publicKey": peer}, _b64_field("sharedSecret"))


# -- asymmetric crypto ------------------------------------------------------------------------------
def asymmetric_encrypt(keyid: str, plaintext: bytes, padding_mode: str = DEFAULT_ASYMMETRIC_PADDING) -> Call[bytes]:
    return Call(
        "AsymmetricEncrypt",
        {"keyid": keyid, "plaintext": b64(plaintext), "padding_mode": padding_mode},
        _b64_field("ciphertext"),
    )


def asymmetric_decrypt(keyid: str, ciphertext: bytes, padding_mode: str = DEFAULT_ASYMMETRIC_PADDING) -> Call[bytes]:
    return Call(
        "AsymmetricDecrypt",
        {"keyid": keyid, "ciphertext": b64(ciphertext), "padding_mode": padding_mode},
        _b64_field("plaintext"),
    )


def _sign_payload(
    keyid: str,
    message: bytes,
    digest_mode: str | None,
    padding_mode: str,
    message_type: str,
    context: bytes | None = None,
) -> dict[str, Any]:
    return _payload(
        keyid=keyid,
        message=b64(message),
        message_type=message_type,
        digest_mode=digest_mode,
        padding_mode=padding_mode,
        context=None if context is None else b64(context),
    )


def sign(
    keyid: str,
    message: bytes,
    digest_mode: str | None = DEFAULT_DIGEST,
    padding_mode: str = DEFAULT_SIGN_PADDING,
    message_type: str = DEFAULT_MESSAGE_TYPE,
    context: bytes | None = None,
) -> Call[bytes]:
    return Call(
        "Sign", _sign_payload(keyid, message, digest_mode, padding_mode, message_type, context), _b64_field("signature")
    )


def verify(
    keyid: str,
    message: bytes,
    signature: bytes,
    digest_mode: str | None = DEFAULT_DIGEST,
    padding_mode: str = DEFAULT_SIGN_PADDING,
    message_type: str = DEFAULT_MESSAGE_TYPE,
    context: bytes | None = None,
) -> Call[bool]:
    payload = _sign_payload(keyid, message, digest_mode, padding_mode, message_type, context)
    payload["signature"] = b64(signature)
    return Call("Verify", payload, _truthy)
