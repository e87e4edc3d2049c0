"""Key release actions (docs/key-release.md): GetAttestationChallenge, and Put/Get/Delete of the release
policies of keys and secrets; the ``attestation`` payload field the gated actions take.

Wire decisions:

- ``releasePolicy`` is a JSON *string* (the policy document), so the request signature covers its exact
  text; answers give the canonical text and its id (``rp-`` + 16 hex digits of its SHA-256).
- ``attestation`` is an object ``{quote, nonce, recipientPublicKey}``, each base64 (the quote, the 32-byte
  challenge nonce, the recipient's DER SubjectPublicKeyInfo). With it, a gated action answers
  ``ciphertextForRecipient`` instead of its plaintext field.
- Removing a policy is its own Action (Delete...ReleasePolicy); replacing or removing an existing policy
  needs an ``attestation`` that satisfies it.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from pyehsm.protocols.ehsm.actions.secrets import SecretName
from pyehsm.protocols.ehsm.bundle import Attestation, bundle_of
from pyehsm.protocols.ehsm.handler import Caller, Reply
from pyehsm.protocols.ehsm.validation import KeyId
from pyehsm.services.container import Services
from pyehsm.services.release_policies import PolicyState, PolicyText, parse


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class PutKeyReleasePolicyPayload(msgspec.Struct):
    keyid: KeyId
    releasePolicy: PolicyText
    attestation: Attestation | None = None  # required when the key has a policy already


class KeyReleasePolicyPayload(msgspec.Struct):
    keyid: KeyId


class DeleteKeyReleasePolicyPayload(msgspec.Struct):
    keyid: KeyId
    attestation: Attestation | None = None


class PutSecretReleasePolicyPayload(msgspec.Struct):
    secretName: SecretName
    releasePolicy: PolicyText
    attestation: Attestation | None = None


class SecretReleasePolicyPayload(msgspec.Struct):
    secretName: SecretName


class DeleteSecretReleasePolicyPayload(msgspec.Struct):
    secretName: SecretName
    attestation: Attestation | None = None


def _policy_result(state: PolicyState) -> dict[str, Any]:
    field = "keyid" if state.subject == "key" else "secretName"
    policy = state.policy
    return {
        field: state.name,
        "policyId": policy.policy_id if policy is not None else "",
        "releasePolicy": policy.canonical_json() if policy is not None else "",
    }


async def get_attestation_challenge(svc: Services, caller: Caller, p: None) -> Reply:
    challenge = await svc.release_gate.challenge(caller.appid)
    return Reply({"nonce": b64(challenge.nonce), "expireTime": challenge.expires_ms})


async def put_key_release_policy(svc: Services, caller: Caller, p: PutKeyReleasePolicyPayload) -> Reply:
    policy = parse(p.releasePolicy)
    state = await svc.release_policies.put_key_policy(caller.appid, p.keyid, policy, bundle_of(p.attestation))
    return Reply(_policy_result(state), keyid=state.name)


async def get_key_release_policy(svc: Services, caller: Caller, p: KeyReleasePolicyPayload) -> Reply:
    state = await svc.release_policies.get_key_policy(caller.appid, p.keyid)
    return Reply(_policy_result(state), keyid=state.name)


async def delete_key_release_policy(svc: Services, caller: Caller, p: DeleteKeyReleasePolicyPayload) -> Reply:
    state = await svc.release_policies.put_key_policy(caller.appid, p.keyid, None, bundle_of(p.attestation))
    return Reply(_policy_result(state), keyid=state.name)


async def put_secret_release_policy(svc: Services, caller: Caller, p: PutSecretReleasePolicyPayload) -> Reply:
    policy = parse(p.releasePolicy)
    state = await svc.release_policies.put_secret_policy(caller.appid, p.secretName, policy, bundle_of(p.attestation))
    return Reply(_policy_result(state))


async def get_secret_release_policy(svc: Services, caller: Caller, p: SecretReleasePolicyPayload) -> Reply:
    return Reply(_policy_result(await svc.release_policies.get_secret_policy(caller.appid, p.secretName)))


async def delete_secret_release_policy(svc: Services, caller: Caller, p: DeleteSecretReleasePolicyPayload) -> Reply:
    state = await svc.release_policies.put_secret_policy(caller.appid, p.secretName, None, bundle_of(p.attestation))
    return Reply(_policy_result(state))
