"""Optional dependencies: features the embedded default (SQLite, a root key file) does not need ship as
pip extras, and selecting such a feature without its extra fails at start-up with the command to run.

| feature | extra | packages |
|---|---|---|
| ``--store postgresql://...`` | ``postgresql`` | psycopg[binary,pool] |
| ``--root-key pkcs11:...`` | ``pkcs11`` | python-pkcs11 |
"""

from __future__ import annotations

from pyehsm.errors import StartupError


class MissingExtraError(StartupError):
    """A selected feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f'{feature} needs the "{extra}" extra: pip install "pyehsm[{extra}]"')
        self.feature = feature
        self.extra = extra


POSTGRESQL = ("PostgreSQL support", "postgresql")
PKCS11 = ("PKCS#11 support", "pkcs11")
