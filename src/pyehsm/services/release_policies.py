"""Release policies of keys and secrets (docs/key-release.md): Put/Get/Delete{Key,Secret}ReleasePolicy.

A policy is parsed and validated once (attest/release_policy.py) and stored in canonical form on the key
or secret row. Setting the first policy needs only the app's apikey; replacing or deleting an existing one
needs an attestation bundle that satisfies the *current* policy, so a stolen apikey cannot lift the gate
(the workload that may read the key is the one that may change who else can). The store applies the
change only if the policy is still the one the bundle was checked against (compare and set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec

from pyehsm.attest.release_policy import MAX_POLICY_CHARS, PolicyError, ReleasePolicy, parse_policy
from pyehsm.clock import Clock
from pyehsm.errors import (
    ReleaseAttestationRequired,
    ReleasePolicyInvalid,
    ReleaseSubject,
    SecretBusy,
    SecretDeleted,
    SecretNotFound,
)
from pyehsm.services.keys import KeyService
from pyehsm.services.release_gate import AttestationBundle, ReleaseGate, Subject, stored_policy
from pyehsm.store.base import Store
from pyehsm.store.records import SecretRecord

# A policy on the wire: its JSON text (parse_policy limits it to MAX_POLICY_CHARS too).
PolicyText = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_POLICY_CHARS)]


@dataclass(frozen=True, slots=True)
class PolicyState:
    """A key's or secret's policy as the Actions answer it: its id (keyid or secret name) and the policy."""

    subject: ReleaseSubject
    name: str
    policy: ReleasePolicy | None


def parse(text: str) -> ReleasePolicy:
    """A release policy from its JSON text, or ReleasePolicyInvalid naming the problem."""
    try:
        return parse_policy(text)
    except PolicyError as exc:
        raise ReleasePolicyInvalid(str(exc)) from None


class ReleasePolicyService:
    def __init__(self, store: Store, keys: KeyService, gate: ReleaseGate, clock: Clock) -> None:
        self._store = store
        self._keys = keys
        self._gate = gate
        self._clock = clock

    def __repr__(self) -> str:
        return "<ReleasePolicyService>"

    # -- keys ----------------------------------------------------------------------------------------
    async def get_key_policy(self, appid: str, keyid: str) -> PolicyState:
        record = await self._keys.get(appid, keyid)
        current = record.release_policy
        return PolicyState("key", record.keyid, stored_policy(current) if current is not None else None)

    async def put_key_policy(
        self, appid: str, keyid: str, policy: ReleasePolicy | None, bundle: AttestationBundle | None
    ) -> PolicyState:
        """Set (``policy``) or delete (None) the key's release policy."""
        record = await self._keys.get(appid, keyid)
        current = record.release_policy
        await self._authorize(appid, Subject("key", record.keyid, record.keyid, current), bundle)
        new = policy.canonical_json() if policy is not None else None
        if not await self._store.set_key_release_policy(appid, record.keyid, new, current):
            await self._keys.get(appid, record.keyid)  # raises when the key is gone
            raise ReleaseAttestationRequired("key", record.keyid)  # the policy changed meanwhile: check again
        return PolicyState("key", record.keyid, policy)

    # -- secrets -------------------------------------------------------------------------------------
    async def get_secret_policy(self, appid: str, name: str) -> PolicyState:
        record = await self._secret(appid, name, live=False)
        current = record.release_policy
        return PolicyState("secret", record.name, stored_policy(current) if current is not None else None)

    async def put_secret_policy(
        self, appid: str, name: str, policy: ReleasePolicy | None, bundle: AttestationBundle | None
    ) -> PolicyState:
        """Set (``policy``) or delete (None) the secret's release policy (a secret pending deletion refuses)."""
        record = await self._secret(appid, name, live=True)
        current = record.release_policy
        await self._authorize(appid, Subject("secret", record.secret_id, record.name, current), bundle)
        new = policy.canonical_json() if policy is not None else None
        now = self._clock.now_ms()
        if not await self._store.set_secret_release_policy(appid, record.secret_id, new, current, now):
            await self._secret(appid, name, live=True)  # raises when it was deleted meanwhile
            raise SecretBusy(name)
        return PolicyState("secret", record.name, policy)

    async def _secret(self, appid: str, name: str, *, live: bool) -> SecretRecord:
        record = await self._store.get_secret(appid, name, self._clock.now_ms())
        if record is None:
            raise SecretNotFound(name)
        if live and record.planned_delete_ms is not None:
            raise SecretDeleted(name, "modify")
        return record

    async def _authorize(self, appid: str, subject: Subject, bundle: AttestationBundle | None) -> None:
        """Changing an existing policy needs a bundle that satisfies it; the first policy needs none."""
        if subject.policy is None:
            return
        if bundle is None:
            raise ReleaseAttestationRequired(subject.kind, subject.name)
        await self._gate.check(appid, bundle, [subject])
