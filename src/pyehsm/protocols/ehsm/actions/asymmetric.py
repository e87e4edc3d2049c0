"""Asymmetric actions: GetPublicKey, AsymmetricEncrypt, AsymmetricDecrypt, Sign, Verify, ExportDataKey, and the
KEM actions Encapsulate and Decapsulate (ML-KEM) and DeriveSharedSecret (ECDH, X25519)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

import msgspec

from pyehsm.crypto.keyspecs import DigestName, MessageTypeName, PaddingName
from pyehsm.protocols.ehsm.actions.symmetric import b64
from pyehsm.protocols.ehsm.bundle import Attestation, bundle_of
from pyehsm.protocols.ehsm.errors import ParamError
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import Aad, Ciphertext, Data, KeyId, SignContext
from pyehsm.services.container import Services


class PublicKeyPayload(msgspec.Struct):
    keyid: KeyId


class AsymmetricEncryptPayload(msgspec.Struct):
    keyid: KeyId
    plaintext: Data
    padding_mode: PaddingName | None = None  # required for RSA keys, ignored for SM2


class AsymmetricDecryptPayload(msgspec.Struct):
    keyid: KeyId
    ciphertext: Ciphertext
    padding_mode: PaddingName | None = None
    attestation: Attestation | None = None  # docs/key-release.md: answer ciphertextForRecipient


class SignPayload(msgspec.Struct):
    keyid: KeyId
    message: Data
    message_type: MessageTypeName
    digest_mode: DigestName | None = None  # default: the keyspec's (EH_SHA_256, EH_SM3 for SM2)
    padding_mode: PaddingName | None = None  # required for RSA keys, ignored for the others
    context: SignContext | None = None  # ML-DSA only: the FIPS 204 context string (0..255 bytes)


class VerifyPayload(msgspec.Struct):
    keyid: KeyId
    message: Data
    message_type: MessageTypeName
    signature: Data
    digest_mode: DigestName | None = None
    padding_mode: PaddingName | None = None
    context: SignContext | None = None


class EncapsulatePayload(msgspec.Struct):
    keyid: KeyId


class DecapsulatePayload(msgspec.Struct):
    keyid: KeyId
    ciphertext: Ciphertext  # the KEM ciphertext (1088 bytes for ML-KEM-768, 1568 for ML-KEM-1024)
    attestation: Attestation | None = None


# The peer key of DeriveSharedSecret: base64 of a DER SubjectPublicKeyInfo, or that key as PEM text.
PeerPublicKey = Annotated[str, msgspec.Meta(min_length=1, max_length=16384)]
_PEM = re.compile(r"\A\s*-----BEGIN PUBLIC KEY-----\s*(.*?)\s*-----END PUBLIC KEY-----\s*\Z", re.DOTALL)


class DeriveSharedSecretPayload(msgspec.Struct):
    keyid: KeyId
    publicKey: PeerPublicKey
    attestation: Attestation | None = None

    def peer_der(self) -> bytes:
        pem = _PEM.match(self.publicKey)
        text = "".join(pem.group(1).split()) if pem else self.publicKey
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ParamError(
                "Parameter invalid, The publicKey must be a base64 DER SubjectPublicKeyInfo or a PEM public key."
            ) from None


class ExportDataKeyPayload(msgspec.Struct):
    keyid: KeyId
    ukeyid: KeyId
    # The old data key's field has three spellings in the wild (docs/protocol.md section 4).
    olddatakey_base: Ciphertext | None = None  # Intel server
    old_data_key: Ciphertext | None = None  # Python SDK
    olddatakey: Ciphertext | None = None  # API reference
    aad: Aad | None = None
    padding_mode: PaddingName | None = None  # default EH_RSA_PKCS1_OAEP for RSA, ignored for SM2
    attestation: Attestation | None = None  # then the data key goes to the recipient, not under ukeyid

    def old_key(self) -> bytes:
        given = {v for v in (self.olddatakey_base, self.old_data_key, self.olddatakey) if v is not None}
        if not given:
            raise ParamError("Missing required parameters, The olddatakey cannot be empty.")
        if len(given) > 1:
            raise ParamError(
                "Parameter invalid, The olddatakey was given twice with different values "
                "(send one of olddatakey, olddatakey_base, old_data_key)."
            )
        return given.pop()


async def get_public_key(svc: Services, caller: Caller, p: PublicKeyPayload) -> Reply:
    pem = await svc.asymmetric.get_public_key(caller.appid, p.keyid)
    return Reply({"pubkey": pem}, keyid=p.keyid)


async def asymmetric_encrypt(svc: Services, caller: Caller, p: AsymmetricEncryptPayload) -> Reply:
    ct = await svc.asymmetric.encrypt(caller.appid, p.keyid, p.plaintext, p.padding_mode)
    return Reply({"ciphertext": b64(ct)}, keyid=p.keyid)


def _sealed(sealed: bytes, keyid: str) -> Reply:
    return Reply({"ciphertextForRecipient": b64(sealed)}, keyid=keyid)


async def asymmetric_decrypt(svc: Services, caller: Caller, p: AsymmetricDecryptPayload) -> Reply:
    bundle = bundle_of(p.attestation)
    if bundle is not None:
        sealed = await svc.release.asymmetric_decrypt(caller.appid, p.keyid, p.ciphertext, p.padding_mode, bundle)
        return _sealed(sealed, p.keyid)
    pt = await svc.asymmetric.decrypt(caller.appid, p.keyid, p.ciphertext, p.padding_mode)
    return Reply({"plaintext": b64(pt)}, keyid=p.keyid)


async def sign(svc: Services, caller: Caller, p: SignPayload) -> Reply:
    sig = await svc.asymmetric.sign(
        caller.appid, p.keyid, p.message, p.message_type, p.digest_mode, p.padding_mode, p.context
    )
    return Reply({"signature": b64(sig)}, keyid=p.keyid)


async def verify(svc: Services, caller: Caller, p: VerifyPayload) -> Reply:
    ok = await svc.asymmetric.verify(
        caller.appid, p.keyid, p.message, p.signature, p.message_type, p.digest_mode, p.padding_mode, p.context
    )
    return Reply({"result": ok}, keyid=p.keyid)


async def encapsulate(svc: Services, caller: Caller, p: EncapsulatePayload) -> Reply:
    shared, ciphertext = await svc.asymmetric.encapsulate(caller.appid, p.keyid)
    return Reply({"ciphertext": b64(ciphertext), "sharedSecret": b64(shared)}, keyid=p.keyid)


async def decapsulate(svc: Services, caller: Caller, p: DecapsulatePayload) -> Reply:
    bundle = bundle_of(p.attestation)
    if bundle is not None:
        return _sealed(await svc.release.decapsulate(caller.appid, p.keyid, p.ciphertext, bundle), p.keyid)
    shared = await svc.asymmetric.decapsulate(caller.appid, p.keyid, p.ciphertext)
    return Reply({"sharedSecret": b64(shared)}, keyid=p.keyid)


async def derive_shared_secret(svc: Services, caller: Caller, p: DeriveSharedSecretPayload) -> Reply:
    bundle = bundle_of(p.attestation)
    if bundle is not None:
        return _sealed(await svc.release.derive_shared_secret(caller.appid, p.keyid, p.peer_der(), bundle), p.keyid)
    shared = await svc.asymmetric.derive_shared_secret(caller.appid, p.keyid, p.peer_der())
    return Reply({"sharedSecret": b64(shared)}, keyid=p.keyid)


async def export_data_key(svc: Services, caller: Caller, p: ExportDataKeyPayload) -> Reply:
    bundle = bundle_of(p.attestation)
    if bundle is not None:
        sealed = await svc.release.export_data_key(caller.appid, p.keyid, p.old_key(), p.aad or b"", bundle)
        return _sealed(sealed, p.keyid)
    new = await svc.asymmetric.export_data_key(
        caller.appid, p.keyid, p.ukeyid, p.old_key(), p.aad or b"", p.padding_mode
    )
    return Reply({"newdatakey": b64(new)}, keyid=p.keyid)
