"""Attestation-gated key release in the SDK (docs/key-release.md): request builders, answers, and the
workload's side (:class:`Recipient`: a fresh key pair, the bundle built from a quote provider, the
recipient ciphertext opened).

    >>> recipient = Recipient()                                  # in the enclave / TD
    >>> challenge = c.get_attestation_challenge()
    >>> bundle = recipient.bundle(challenge.nonce, ConfigfsTsmProvider())
    >>> data_key = recipient.open(c.decrypt_for_recipient(keyid, ciphertext, bundle), bundle)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import x25519

from pyehsm.attest.providers import QuoteProvider
from pyehsm.client.models import b64, unb64
from pyehsm.client.operations.call import Call, _policy_text
from pyehsm.crypto.recipient import RecipientPrivate, open_sealed, recipient_der, release_report_data


@dataclass(frozen=True, slots=True)
class Bundle:
    """An attestation bundle: a quote over SHA-512(nonce || recipient key DER), the nonce, the key."""

    quote: bytes
    nonce: bytes
    recipient_public_key: bytes

    def payload(self) -> dict[str, str]:
        return {
            "quote": b64(self.quote),
            "nonce": b64(self.nonce),
            "recipientPublicKey": b64(self.recipient_public_key),
        }

    def __repr__(self) -> str:
        return f"<Bundle quote={len(self.quote)} bytes>"


class Recipient:
    """The workload's recipient key pair (X25519 unless given a P-256/P-384/P-521 or X25519 private key).
    Make one per release; the private key never leaves the workload."""

    def __init__(self, private_key: RecipientPrivate | None = None) -> None:
        self._private = private_key if private_key is not None else x25519.X25519PrivateKey.generate()

    def __repr__(self) -> str:
        return "<Recipient>"

    @property
    def public_key_der(self) -> bytes:
        return recipient_der(self._private.public_key())

    def report_data(self, nonce: bytes) -> bytes:
        """The 64 bytes the quote must carry: SHA-512(nonce || recipient public key DER)."""
        return release_report_data(nonce, self.public_key_der)

    def bundle(self, nonce: bytes, provider: QuoteProvider) -> Bundle:
        """A bundle for ``nonce`` (GetAttestationChallenge) with a quote from ``provider`` (configfs-tsm in
        a TDX guest, Gramine in an SGX enclave; the simulated provider in tests)."""
        return Bundle(provider.generate(self.report_data(nonce)), nonce, self.public_key_der)

    def open(self, ciphertext_for_recipient: bytes, bundle: Bundle) -> bytes:
        """The plaintext of an answer's ``ciphertextForRecipient`` (OpenFailed if not for this key and bundle)."""
        return open_sealed(self._private, ciphertext_for_recipient, bundle.nonce)


@dataclass(frozen=True, slots=True)
class AttestationChallenge:
    nonce: bytes
    expire_ms: int


@dataclass(frozen=True, slots=True)
class ReleasePolicyInfo:
    """A key's or secret's release policy: ``name`` (keyid or secret name), its id and document (None: none)."""

    name: str
    policy_id: str
    policy: dict[str, Any] | None

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> ReleasePolicyInfo:
        text = str(result.get("releasePolicy") or "")
        name = str(result.get("keyid") or result.get("secretName") or "")
        return cls(name, str(result.get("policyId") or ""), json.loads(text) if text else None)


@dataclass(frozen=True, slots=True)
class RecipientDataKey:
    """GenerateDataKey with a bundle: the data key sealed to the recipient, and its ciphertext under the CMK."""

    ciphertext_for_recipient: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class RecipientSecret:
    secret_name: str
    version_id: int
    create_time: int
    ciphertext_for_recipient: bytes


# -- request builders --------------------------------------------------------------------------------
def get_attestation_challenge() -> Call[AttestationChallenge]:
    def parse(result: dict[str, Any]) -> AttestationChallenge:
        return AttestationChallenge(unb64(str(result["nonce"])), int(result["expireTime"]))

    return Call("GetAttestationChallenge", None, parse)


def put_release_policy(
    subject: str, name: str, policy: str | dict[str, Any] | None, bundle: Bundle | None
) -> Call[ReleasePolicyInfo]:
    """Put{Key,Secret}ReleasePolicy, or Delete... when ``policy`` is None; ``subject`` is "Key" or "Secret"."""
    field = "keyid" if subject == "Key" else "secretName"
    payload: dict[str, Any] = {field: name}
    if policy is not None:
        payload["releasePolicy"] = _policy_text(policy)
    if bundle is not None:
        payload["attestation"] = bundle.payload()
    verb = "Put" if policy is not None else "Delete"
    return Call(f"{verb}{subject}ReleasePolicy", payload, ReleasePolicyInfo.from_result)


def get_release_policy(subject: str, name: str) -> Call[ReleasePolicyInfo]:
    field = "keyid" if subject == "Key" else "secretName"
    return Call(f"Get{subject}ReleasePolicy", {field: name}, ReleasePolicyInfo.from_result)


def released(action: str, payload: dict[str, Any], bundle: Bundle) -> Call[bytes]:
    """A gated Action with ``bundle``: its answer's ``ciphertextForRecipient``."""
    return Call(action, {**payload, "attestation": bundle.payload()}, _sealed)


def released_data_key(payload: dict[str, Any], bundle: Bundle) -> Call[RecipientDataKey]:
    def parse(result: dict[str, Any]) -> RecipientDataKey:
        return RecipientDataKey(_sealed(result), unb64(str(result["ciphertext"])))

    return Call("GenerateDataKey", {**payload, "attestation": bundle.payload()}, parse)


def released_secret(payload: dict[str, Any], bundle: Bundle) -> Call[RecipientSecret]:
    def parse(result: dict[str, Any]) -> RecipientSecret:
        return RecipientSecret(
            str(result["secretName"]), int(result["versionId"]), int(result["createTime"]), _sealed(result)
        )

    return Call("GetSecretValue", {**payload, "attestation": bundle.payload()}, parse)


def _sealed(result: dict[str, Any]) -> bytes:
    return unb64(str(result["ciphertextForRecipient"]))
