"""The AWS KMS door's error table: every domain error has a row, answered with AWS's exception names."""

from __future__ import annotations

import pytest

from pyehsm import errors as d
from pyehsm.protocols.awskms.errors import INTERNAL_MESSAGE, row_of, to_aws
from tests.unit.test_ehsm_errors import DOMAIN_ERRORS


@pytest.mark.parametrize("kind", [k for k in DOMAIN_ERRORS if k is not d.DomainError], ids=lambda k: k.__qualname__)
def test_every_domain_error_has_an_aws_row(kind: type[d.DomainError]) -> None:
    if kind.__subclasses__() and row_of(kind) is None:
        return  # a base only raised as one of its subclasses: each has its row
    assert row_of(kind) is not None, f"{kind.__qualname__} has no row in protocols/awskms/errors.py"
    if kind.__module__ == d.__name__ and not kind.__subclasses__():
        assert row_of(kind) is kind, f"{kind.__qualname__} answers through a base's row"


@pytest.mark.parametrize(
    ("error", "name", "status"),
    [
        (d.KeyNotFound("k"), "NotFoundException", 400),
        (d.KeyDisabled("k"), "DisabledException", 400),
        (d.KeyMaterialNotImported("k"), "KMSInvalidStateException", 400),
        (d.DecryptionFailed("symmetric"), "InvalidCiphertextException", 400),
        (d.InvalidCiphertext(), "InvalidCiphertextException", 400),
        (d.CiphertextKeyMismatch("k"), "IncorrectKeyException", 400),
        (d.UsageNotAllowed("EH_KEYUSAGE_SIGN_VERIFY", "Encrypt"), "InvalidKeyUsageException", 400),
        (d.MissingParameter("KeyId"), "ValidationException", 400),
        (d.ImportTokenExpired(), "ExpiredImportTokenException", 400),
        (d.RateLimited("app"), "ThrottlingException", 400),
        (d.InternalFailure(), "KMSInternalException", 500),
        (d.KeyPendingDeletion("k"), "KMSInvalidStateException", 400),
        (d.AliasNotFound("alias/a"), "NotFoundException", 400),
        (d.AliasExists("alias/a"), "AlreadyExistsException", 400),
        (d.AliasInvalid("alias/aws/a", reserved=True), "InvalidAliasNameException", 400),
        (d.TooManyTags(50), "TagException", 400),
        (d.KeyPolicyMalformed("not JSON", 32768), "MalformedPolicyDocumentException", 400),
        (d.InvalidMarker("Marker"), "InvalidMarkerException", 400),
        (d.KeyNotRotatable("k", "EH_RSA_2048", "not_symmetric"), "UnsupportedOperationException", 400),
        (d.KeyVersionRetired("k", 1, 2), "InvalidCiphertextException", 400),
        (d.DestinationKeyUnusable(d.KeyDisabled("k")), "DisabledException", 400),
        (d.MessageLengthWrong("EH_EXTERNAL_MU", 64), "ValidationException", 400),
        (d.ContextNotAllowed("Ed25519"), "ValidationException", 400),
        (d.CannotSign("ML-KEM"), "InvalidKeyUsageException", 400),
    ],
)
def test_representative_rows(error: d.DomainError, name: str, status: int) -> None:
    answer = to_aws(error)
    assert (answer.name, answer.status) == (name, status)


def test_an_unmapped_error_is_a_server_fault_without_its_text() -> None:
    class Stray(d.DomainError):
        pass

    answer = to_aws(Stray("secret detail"))
    assert (answer.name, answer.status, answer.message) == ("KMSInternalException", 500, INTERNAL_MESSAGE)
