"""Apps: enrollment (per the enroll policy) and apikey lookup for request authentication."""

from __future__ import annotations

import enum
import hmac
import logging
import secrets
import string
import uuid
from collections import OrderedDict

from pyehsm.clock import Clock
from pyehsm.errors import EnrollRefused
from pyehsm.keyring.keyring import Keyring, UnwrapError
from pyehsm.store.base import Store
from pyehsm.store.records import AppRecord

log = logging.getLogger(__name__)

APIKEY_CHARS = 32
SETTINGS_TTL_MS = 1000  # how long a worker trusts its copy of an app's settings (changed by another process)
_ALPHABET = string.ascii_letters + string.digits


class EnrollPolicy(enum.Enum):
    OPEN = "open"  # anyone who reaches the server may enroll (default on a loopback bind)
    TOKEN = "token"  # Enroll must present the admin token
    CLOSED = "closed"  # apps are created offline with `pyehsm enroll`


def new_apikey() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(APIKEY_CHARS))


class AppService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        clock: Clock,
        policy: EnrollPolicy = EnrollPolicy.CLOSED,
        admin_token: str | None = None,
        cache_entries: int = 100_000,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._clock = clock
        self.policy = policy
        self._admin_token = admin_token
        self._apikeys: OrderedDict[str, str] = OrderedDict()
        self._settings: OrderedDict[str, tuple[int, bool]] = OrderedDict()  # appid -> (read at ms, required)
        self._cache_entries = cache_entries

    def __repr__(self) -> str:
        return f"<AppService policy={self.policy.value}>"

    def check_enroll_allowed(self, presented_token: str | None) -> None:
        if self.policy is EnrollPolicy.OPEN:
            return
        if self.policy is EnrollPolicy.TOKEN and self._admin_token and presented_token:
            if hmac.compare_digest(presented_token.encode(), self._admin_token.encode()):
                return
            raise EnrollRefused("bad_token")
        if self.policy is EnrollPolicy.TOKEN:
            raise EnrollRefused("token_required")
        raise EnrollRefused("closed")

    async def enroll(self) -> tuple[str, str]:
        """Create an app; return (appid, apikey). The apikey is stored wrapped under the domain key."""
        appid = str(uuid.uuid4())
        apikey = new_apikey()
        record = AppRecord(appid, self._keyring.wrap_apikey(appid, apikey), self._clock.now_ms())
        await self._store.insert_app(record)
        return appid, apikey

    async def apikey(self, appid: str) -> str | None:
        """The app's apikey (cached per process; apps never change), or None for an unknown appid."""
        cached = self._apikeys.get(appid)
        if cached is not None:
            return cached
        record = await self._store.get_app(appid)
        if record is None:
            return None
        try:
            apikey = self._keyring.unwrap_apikey(appid, record.wrapped_apikey)
        except UnwrapError:
            log.error("stored apikey of app %s failed authentication (row tampered with or swapped)", appid)
            raise
        self._apikeys[appid] = apikey
        while len(self._apikeys) > self._cache_entries:
            self._apikeys.popitem(last=False)
        return apikey

    async def requires_signed_action(self, appid: str, now_ms: int) -> bool:
        """Whether the app's requests must sign their Action. Apps' settings change (``pyehsm app
        require-signed-action``, SetAppSettings), so each worker re-reads them at most SETTINGS_TTL_MS
        after its last read: a change reaches every worker and node within that time.

        The re-read is ``Store.get_app``. SQLite: the worker's app row, kept while no connection has committed
        (store/cache.py StampedRows), else a lookup in the local file. PostgreSQL: the row cache
        (store/cache.py), which NOTIFY evicts as the change commits and which keeps the row only while the
        change listener proves it hears every change (else for cache_ttl_ms): so the re-read costs no round
        trip while nothing changed, even with every request naming another of 1,000 apps, and a cached row
        is never more than cache_ttl_ms behind the database (a change is applied within SETTINGS_TTL_MS plus
        that, as before). A miss is grouped with the worker's concurrent misses into one SELECT."""
        cached = self._settings.get(appid)
        if cached is not None and 0 <= now_ms - cached[0] < SETTINGS_TTL_MS:
            return cached[1]
        record = await self._store.get_app(appid)
        required = record is not None and record.require_signed_action
        self._remember_setting(appid, now_ms, required)
        return required

    async def set_require_signed_action(self, appid: str, required: bool) -> bool:
        """Turn the requirement on or off; False for an unknown appid. This worker sees it at once."""
        if not await self._store.set_app_require_signed_action(appid, required):
            return False
        self._remember_setting(appid, self._clock.now_ms(), required)
        return True

    def _remember_setting(self, appid: str, now_ms: int, required: bool) -> None:
        self._settings[appid] = (now_ms, required)
        self._settings.move_to_end(appid)
        while len(self._settings) > self._cache_entries:
            self._settings.popitem(last=False)
