"""Refusals of the secrets manager."""

from __future__ import annotations

from typing import Literal

from pyehsm.errors.base import DomainError

# -- secrets ----------------------------------------------------------------------------------------------


class SecretNotFound(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class SecretVersionNotFound(DomainError):
    def __init__(self, name: str, version: int) -> None:
        super().__init__(name, version)
        self.name, self.version = name, version


class SecretNameTaken(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


SecretChange = Literal["put", "modify", "get"]


class SecretDeleted(DomainError):
    """The secret is scheduled for deletion: ``change`` is refused until it is restored."""

    def __init__(self, name: str, change: SecretChange) -> None:
        super().__init__(name, change)
        self.name, self.change = name, change


class SecretBusy(DomainError):
    """Another request changed the secret at the same time."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class SecretKeyGone(DomainError):
    """The secret's encryption key no longer exists."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class SecretKeyUnusable(DomainError):
    """The secret's encryption key exists but ``cause`` forbids its use."""

    def __init__(self, name: str, cause: DomainError) -> None:
        super().__init__(name, cause)
        self.name, self.cause = name, cause
