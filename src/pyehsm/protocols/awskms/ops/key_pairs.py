"""Data key pairs on the AWS door: GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.

A fresh RSA, EC or SM2 key pair made by its crypto family (AsymmetricService.generate_data_key_pair): the
private key as PKCS#8 DER, the public key as SubjectPublicKeyInfo DER, and the private key encrypted under a
symmetric key with the EncryptionContext as AAD, in the keyed form, so Decrypt (KeyId optional) returns it.
"""

from __future__ import annotations

from typing import Any

from pyehsm.crypto.keyspecs import keyspec
from pyehsm.protocols.awskms import fields as f
from pyehsm.protocols.awskms import keyspecs as k
from pyehsm.protocols.awskms.errors import missing, unsupported
from pyehsm.protocols.awskms.ops.context import Ctx, refuse_if_set
from pyehsm.services.asymmetric import DataKeyPair


async def _key_pair(ctx: Ctx, req: f.Request, with_plaintext: bool) -> tuple[str, str, DataKeyPair]:
    keyid = await ctx.key(req)
    spec_name = f.choice(req, "KeyPairSpec", k.ALL_KEY_PAIR_SPECS)
    if spec_name is None:
        raise missing("KeyPairSpec")
    aad = f.encryption_context(req)
    refuse_if_set(req, "Recipient", "pyehsm does not attest Nitro enclaves")
    refuse_if_set(req, "DryRun", "pyehsm has no dry runs")
    if spec_name not in k.DATA_KEY_PAIR_SPECS:
        raise unsupported(f"KeyPairSpec {spec_name} is not supported by pyehsm.")
    spec = keyspec(k.DATA_KEY_PAIR_SPECS[spec_name])
    pair = await ctx.services.asymmetric.generate_data_key_pair(
        ctx.appid, keyid, spec, aad, keyed=True, with_plaintext=with_plaintext
    )
    return keyid, spec_name, pair


async def generate_data_key_pair(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid, spec_name, pair = await _key_pair(ctx, req, with_plaintext=True)
    return {
        "PrivateKeyCiphertextBlob": f.b64(pair.ciphertext),
        "PrivateKeyPlaintext": f.b64(pair.private_key),
        "PublicKey": f.b64(pair.public_key),
        "KeyId": ctx.arn(keyid),
        "KeyPairSpec": spec_name,
    }


async def generate_data_key_pair_without_plaintext(ctx: Ctx, req: f.Request) -> dict[str, Any]:
    keyid, spec_name, pair = await _key_pair(ctx, req, with_plaintext=False)
    return {
        "PrivateKeyCiphertextBlob": f.b64(pair.ciphertext),
        "PublicKey": f.b64(pair.public_key),
        "KeyId": ctx.arn(keyid),
        "KeyPairSpec": spec_name,
    }
