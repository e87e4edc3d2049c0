"""The eHSM error table: every domain error has a row, and the rows give eHSM's messages byte for byte."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import pyehsm
from pyehsm import errors as d
from pyehsm.protocols.ehsm import errors as ehsm
from pyehsm.protocols.ehsm.errors import INTERNAL_ERROR_MESSAGE, answer, row_of


def _all_domain_errors() -> list[type[d.DomainError]]:
    for info in pkgutil.walk_packages(pyehsm.__path__, "pyehsm."):
        if not info.name.startswith(("pyehsm.cli", "pyehsm.__main__", "pyehsm.store.postgres")):
            importlib.import_module(info.name)  # every module's own subclasses, too
    found: list[type[d.DomainError]] = []
    stack = [d.DomainError]
    while stack:
        kind = stack.pop()
        found.append(kind)
        stack.extend(kind.__subclasses__())
    return found


DOMAIN_ERRORS = _all_domain_errors()


def test_the_walk_finds_the_hierarchy() -> None:
    assert {d.KeyNotFound, d.MaterialLengthWrong, d.InternalFailure} <= set(DOMAIN_ERRORS)
    assert len(DOMAIN_ERRORS) > 40


@pytest.mark.parametrize("kind", [k for k in DOMAIN_ERRORS if k is not d.DomainError], ids=lambda k: k.__qualname__)
def test_every_domain_error_has_an_ehsm_row(kind: type[d.DomainError]) -> None:
    if kind.__subclasses__() and row_of(kind) is None:
        return  # a base that is only raised as one of its subclasses (MaterialRejected): each has its row
    assert row_of(kind) is not None, f"{kind.__qualname__} has no row in protocols/ehsm/errors.py"
    if kind.__module__ == d.__name__ and not kind.__subclasses__():
        assert row_of(kind) is kind, f"{kind.__qualname__} answers through a base's row"


REPRESENTATIVE: list[tuple[d.DomainError, int, str]] = [
    (d.KeyNotFound("k"), 400, "keyid error"),
    (d.KeyDisabled("k"), 400, "keyid is disabled"),
    (d.KeyMaterialNotImported("k"), 400, "The key material has not been imported yet."),
    (d.KeyAwaitingMaterial("k"), 400, "The key is waiting for its key material; import it first."),
    (d.KeyVersionNotFound("k", 3), 400, "The key version named by the ciphertext does not exist."),
    (d.OperationNotSupported("EH_AES_GCM_256", "Sign"), 400, "The keyspec EH_AES_GCM_256 does not support Sign."),
    (
        d.UsageNotAllowed("EH_KEYUSAGE_ENCRYPT_DECRYPT", "Sign"),
        400,
        "The keyusage EH_KEYUSAGE_ENCRYPT_DECRYPT of this key does not allow Sign.",
    ),
    (
        d.UsageNotSupported("EH_AES_GCM_128", "EH_KEYUSAGE_SIGN_VERIFY", ("EH_KEYUSAGE_ENCRYPT_DECRYPT",)),
        400,
        "Parameter invalid, The keyusage EH_KEYUSAGE_SIGN_VERIFY is not supported for keyspec EH_AES_GCM_128 "
        "(use EH_KEYUSAGE_ENCRYPT_DECRYPT).",
    ),
    (d.InvalidCiphertext(), 400, "Parameter invalid, The ciphertext is not a pyehsm ciphertext."),
    (
        d.DecryptionFailed("symmetric"),
        400,
        "Decrypt failed: the ciphertext was not made with this key, was modified, or the aad does not match.",
    ),
    (
        d.DecryptionFailed("asymmetric"),
        400,
        "Decrypt failed: the ciphertext was not made with this key's public key, or it was modified.",
    ),
    (d.MissingParameter("padding_mode"), 400, "Missing required parameters, The padding_mode cannot be empty."),
    (d.MalformedParameter("mr_td"), 400, "Parameter invalid, The mr_td format wrong."),
    (d.MalformedParameter("quote", "too short"), 400, "Parameter invalid, The quote format wrong: too short."),
    (
        d.PaddingNotAllowed("EH_PAD_NONE", "encryption", ("EH_RSA_PKCS1", "EH_RSA_PKCS1_OAEP")),
        400,
        "Parameter invalid, The padding_mode EH_PAD_NONE cannot be used for RSA encryption "
        "(use EH_RSA_PKCS1 or EH_RSA_PKCS1_OAEP).",
    ),
    (
        d.PaddingNotAllowed("EH_RSA_PKCS1", "import", ("EH_RSA_PKCS1_OAEP", "EH_RSA_AES_WRAP")),
        400,
        "Parameter invalid, The padding_mode EH_RSA_PKCS1 cannot be used to import key material under an RSA "
        "wrapping key (use EH_RSA_PKCS1_OAEP, EH_RSA_AES_WRAP).",
    ),
    (
        d.DigestNotAllowed("EH_SHA_256", "SM2", ("EH_SM3",)),
        400,
        "Parameter invalid, The digest_mode EH_SHA_256 cannot be used with SM2 keys (use EH_SM3).",
    ),
    (
        d.DigestLengthWrong("EH_SHA_256", 32),
        400,
        "Parameter invalid, The message length error: an EH_DIGEST message for EH_SHA_256 must be 32 bytes.",
    ),
    (
        d.MessageTypeNotAllowed("EH_DIGEST", "HMAC"),
        400,
        "Parameter invalid, The message_type EH_DIGEST cannot be used with HMAC keys (send EH_RAW).",
    ),
    (d.CannotEncrypt("EC"), 400, "Parameter invalid, EC keys cannot encrypt or decrypt."),
    (d.NoPublicKey("HMAC"), 400, "Parameter invalid, HMAC keys have no public key."),
    (
        d.LimitExceeded("plaintext", 190, "RSA-OAEP"),
        400,
        "Parameter invalid, The plaintext length error: RSA-OAEP encrypts at most 190 bytes.",
    ),
    (
        d.MaterialLengthWrong("EH_HMAC", "16 to 64 bytes"),
        400,
        "Parameter invalid, The key_material length error: EH_HMAC key material must be 16 to 64 bytes.",
    ),
    (d.NotAWrappingKey("EH_EC_P256"), 400, "Parameter invalid, EH_EC_P256 cannot be a wrapping key."),
    (d.ImportTokenInvalid(), 400, "Parameter invalid, The importToken is not valid for this key."),
    (
        d.ImportTokenExpired(),
        400,
        'Token validity time is 24 hours. Try to send "GetParametersForImport" request again.',
    ),
    (d.SecretNotFound("s"), 400, "Can not find secretName"),
    (d.SecretNameTaken("s"), 400, "Secret name already exists, cannot use the same secret name"),
    (d.SecretDeleted("s", "put"), 400, "Can not put value for a deleted secret."),
    (d.SecretDeleted("s", "modify"), 400, "Can not modify a deleted secret."),
    (d.SecretDeleted("s", "get"), 400, "Can not get value for a deleted secret."),
    (d.SecretVersionNotFound("s", 2), 400, "Can not find the versionId of the secret."),
    (d.MalformedParameter("rotationInterval"), 400, "Parameter invalid, The rotationInterval format wrong."),
    (d.OutOfRange("rotationInterval", 6, 8760), 400, "The rotation time is less than 6 hours or more than 8760 hours"),
    (d.OutOfRange("recoveryPeriod", 1, 365), 400, "Parameter invalid, The recoveryPeriod must be between 1 and 365."),
    (d.NotABoolean("forceDelete"), 400, "The forceDelete must be true or false"),
    (
        d.ParametersDisagree("forceDelete", "force_delete"),
        400,
        "Parameter invalid, The forceDelete and force_delete disagree.",
    ),
    (
        d.SecretKeyUnusable("s", d.KeyDisabled("k")),
        400,
        "The encryption key of the secret cannot be used: keyid is disabled",
    ),
    (d.QuotePolicyNotFound("p"), 400, "Invalid policyId."),
    (
        d.KeyNotRotatable("k", "EH_HMAC", "not_symmetric"),
        400,
        "The keyspec EH_HMAC cannot be rotated: only symmetric encryption keys (AES-GCM, SM4) have key versions.",
    ),
    (
        d.KeyNotRotatable("k", "EH_AES_GCM_256", "external"),
        400,
        "A key with origin EH_EXTERNAL_KEY is rotated by importing new key material into a new version: "
        'send "GetParametersForImport" and "ImportKeyMaterial" with newVersion true.',
    ),
    (
        d.ExternalMuContext(),
        400,
        "Parameter invalid, The context cannot be used with message_type EH_EXTERNAL_MU "
        "(the mu already binds the context it was computed with).",
    ),
    (
        d.ImportedMaterialMismatch("k", "not_same"),
        400,
        "Parameter invalid, The key_material is not the key material this key had: "
        "a key whose material was deleted or expired takes back only the same material.",
    ),
    (
        d.ImportedMaterialMismatch("k", "not_new"),
        400,
        "Parameter invalid, The key_material is already the material of one of this key's versions.",
    ),
    (
        d.ImportedVersionPending("k"),
        400,
        'The key already has new imported key material waiting to become its primary version: send "RotateKey" first.',
    ),
    (
        d.KeyVersionRetired("k", 1, 3),
        400,
        "The key version of this ciphertext is below the key's minimum decryption version.",
    ),
    (
        d.DestinationKeyUnusable(d.OperationNotSupported("EH_RSA_2048", "Encrypt")),
        400,
        "The destinationKeyId cannot be used: The keyspec EH_RSA_2048 does not support Encrypt.",
    ),
    (
        d.OutOfRange("rotationPeriodInDays", 90, 2560),
        400,
        "Parameter invalid, The rotationPeriodInDays must be between 90 and 2560.",
    ),
    (d.EnrollRefused("bad_token"), 400, "Enroll refused: the admin token is not valid."),
    (d.RateLimited("app"), 400, "Too many requests, rate limit exceeded."),
    (d.InternalFailure(), 500, INTERNAL_ERROR_MESSAGE),
    (d.AuditUnavailable(), 500, "Audit log unavailable"),  # --audit-mode required (docs/audit.md)
]


@pytest.mark.parametrize(("error", "code", "message"), REPRESENTATIVE, ids=lambda v: type(v).__name__)
def test_the_table_gives_ehsms_exact_answer(error: d.DomainError, code: int, message: str) -> None:
    assert answer(error) == (code, message)


def test_a_subclass_answers_through_its_base_row() -> None:
    from pyehsm.keyring.keyring import UnwrapError

    assert answer(UnwrapError()) == (500, INTERNAL_ERROR_MESSAGE)


def test_an_error_without_a_row_is_an_opaque_server_fault() -> None:
    class Unmapped(d.DomainError):
        pass

    assert answer(Unmapped("secret-looking detail")) == (500, ehsm.INTERNAL_ERROR_MESSAGE)


def test_domain_errors_carry_no_wire_text() -> None:
    for error, _, message in REPRESENTATIVE:
        assert message not in str(error)


# eHSM's wire phrases: only the eHSM adapter (and the client, which reads answers) may spell them.
_WIRE_PHRASES = (
    "Parameter invalid",
    "Missing required parameters",
    "keyid error",
    "keyid is disabled",
    "Decrypt failed",
    "Can not find",
    "sign error",
    "API Not Found",
    "Server internal error",
)


def test_no_ehsm_wire_text_below_the_adapter() -> None:
    root = Path(pyehsm.__file__).parent
    allowed = (root / "protocols", root / "client")
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        if not any(path.is_relative_to(top) for top in allowed)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(phrase in line for phrase in _WIRE_PHRASES)
    ]
    assert not found, "wire text below the eHSM adapter (raise a domain error instead):\n" + "\n".join(found)
