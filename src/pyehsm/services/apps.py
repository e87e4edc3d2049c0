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
from pyehsm.errors import EnrollError
from pyehsm.keyring.keyring import Keyring, UnwrapError
from pyehsm.store.base import Store
from pyehsm.store.records import AppRecord

log = logging.getLogger(__name__)

APIKEY_CHARS = 32
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
        self._cache_entries = cache_entries

    def __repr__(self) -> str:
        return f"<AppService policy={self.policy.value}>"

    def check_enroll_allowed(self, presented_token: str | None) -> None:
        if self.policy is EnrollPolicy.OPEN:
            return
        if self.policy is EnrollPolicy.TOKEN and self._admin_token and presented_token:
            if hmac.compare_digest(presented_token.encode(), self._admin_token.encode()):
                return
            raise EnrollError("Enroll refused: the admin token is not valid.")
        if self.policy is EnrollPolicy.TOKEN:
            raise EnrollError("Enroll refused: this server requires an admin token (X-Pyehsm-Admin-Token).")
        raise EnrollError("Enroll refused: enrollment is closed on this server; ask its operator.")

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
