"""PostgresStore: the Store protocol on PostgreSQL, one mixin per concern (each module holds its own SQL)."""

from __future__ import annotations

from pyehsm.store.postgres.aliases import AliasRows
from pyehsm.store.postgres.apps import AppRows
from pyehsm.store.postgres.import_params import ImportParamRows
from pyehsm.store.postgres.keys import KeyRows
from pyehsm.store.postgres.meta import MetaRows
from pyehsm.store.postgres.notify import ChangeListener
from pyehsm.store.postgres.policies import PolicyRows
from pyehsm.store.postgres.portable import PortableRows
from pyehsm.store.postgres.quote_policies import QuotePolicyRows
from pyehsm.store.postgres.release import ReleaseRows
from pyehsm.store.postgres.secrets import SecretRows
from pyehsm.store.postgres.tags import TagRows


class PostgresStore(
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
    ChangeListener,
    PortableRows,
):
    """The scale-out store: several stateless nodes share one database (package docstring)."""
