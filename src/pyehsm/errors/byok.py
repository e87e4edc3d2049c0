"""Refusals of key import (BYOK): tokens, wrapping keys, imported material."""

from __future__ import annotations

from typing import Literal

from pyehsm.errors.base import DomainError

# -- key import (BYOK) -------------------------------------------------------------------------------------


class ImportTokenInvalid(DomainError):
    pass


class ImportTokenExpired(DomainError):
    pass


class ImportTokenReplaced(DomainError):
    """A newer GetParametersForImport replaced the token's parameters."""


class ImportTokenSpent(DomainError):
    """The token's parameters were deleted after too many failed imports."""


class KeyNotExternal(DomainError):
    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class KeyMaterialAlreadyImported(DomainError):
    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


ImportMismatch = Literal["not_same", "not_new"]


class ImportedMaterialMismatch(DomainError):
    """``not_same``: a re-import (after the key's material was deleted or expired) brought other material than
    the key's; ``not_new``: an import into a new key version brought material one of the key's versions has."""

    def __init__(self, keyid: str, reason: ImportMismatch) -> None:
        super().__init__(keyid, reason)
        self.keyid, self.reason = keyid, reason


class ImportedVersionPending(DomainError):
    """New key material was imported into a version that waits for RotateKey; import more after that."""

    def __init__(self, keyid: str) -> None:
        super().__init__(keyid)
        self.keyid = keyid


class NotAWrappingKey(DomainError):
    def __init__(self, keyspec: str) -> None:
        super().__init__(keyspec)
        self.keyspec = keyspec


class ImportUnwrapFailed(DomainError):
    """The key material does not unwrap under the token's key pair with this padding."""


class MaterialRejected(DomainError):
    """Base: the unwrapped material does not fit the keyspec (the subclass names the rule, never the data)."""


class MaterialLengthWrong(MaterialRejected):
    def __init__(self, keyspec: str, sizes: str) -> None:
        super().__init__(keyspec, sizes)
        self.keyspec, self.sizes = keyspec, sizes


class MaterialMalformed(MaterialRejected):
    def __init__(self, keyspec: str, rule: str) -> None:
        super().__init__(keyspec, rule)
        self.keyspec, self.rule = keyspec, rule


class MaterialNotImportable(MaterialRejected):
    def __init__(self, keyspec: str) -> None:
        super().__init__(keyspec)
        self.keyspec = keyspec
