"""SqliteStore: the Store protocol on SQLite, one mixin per concern (each module holds its own SQL)."""

from __future__ import annotations

from pyehsm.store.sqlite.aliases import AliasRows
from pyehsm.store.sqlite.apps import AppRows
from pyehsm.store.sqlite.import_params import ImportParamRows
from pyehsm.store.sqlite.keys import KeyRows
from pyehsm.store.sqlite.meta import MetaRows
from pyehsm.store.sqlite.policies import PolicyRows
from pyehsm.store.sqlite.portable import PortableRows
from pyehsm.store.sqlite.quote_policies import QuotePolicyRows
from pyehsm.store.sqlite.release import ReleaseRows
from pyehsm.store.sqlite.secrets import SecretRows
from pyehsm.store.sqlite.tags import TagRows


class SqliteStore(
    MetaRows,
    AppRows,
    KeyRows,
    AliasRows,
    TagRows,
    PolicyRows,
    SecretRows,
    QuotePolicyRows,
    ReleaseRows,
    ImportParamRows,
    PortableRows,
):
    """The embedded store (package docstring)."""
