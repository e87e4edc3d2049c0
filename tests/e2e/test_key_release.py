"""Attestation-gated key release over real HTTP (docs/key-release.md), with the simulated SGX quote provider
whose root the server explicitly trusts: policies on keys and secrets, the gate on every plaintext-returning
Action, single-use fresh nonces (server clock injected), the report-data binding, recipient ciphertexts that
only the recipient's private key opens, and the AWS door refusing gated keys."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from pyehsm.attest.providers import SimulatedSgxProvider
from pyehsm.attest.simulation import SimulationSigningMaterial
from pyehsm.client import Client, EhsmApiError
from pyehsm.client.release import Bundle, Recipient
from pyehsm.clock import ManualClock
from pyehsm.config import Settings
from pyehsm.crypto.recipient import OpenFailed, open_sealed
from tests.e2e.test_cli import cli_env, run
from tests.support.aws import kms
from tests.support.server import InProcessServer, in_process_server

MR_ENCLAVE = hashlib.sha256(b"release test enclave").hexdigest()
MR_SIGNER = hashlib.sha256(b"release test signer").hexdigest()
PROD_ID, SVN = 7, 3
POLICY = {
    "anyOf": [{"tee": "SGX", "mrEnclave": MR_ENCLAVE, "mrSigner": MR_SIGNER, "isvProdId": PROD_ID, "minIsvSvn": SVN}]
}
OTHER = hashlib.sha256(b"another enclave").hexdigest()


@pytest.fixture(scope="module")
def material() -> SimulationSigningMaterial:
    return SimulationSigningMaterial.generate()


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, material: SimulationSigningMaterial, clock: ManualClock
) -> Iterator[InProcessServer]:
    root = tmp_path_factory.mktemp("root") / "root.pem"
    root.write_bytes(material.root_certificate_pem())
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("release") / "data",
        pool_depth={},
        quote_provider="none",
        trust_simulated_roots=(str(root),),
    )
    with in_process_server(settings, clock) as srv:
        yield srv


class TickingClock:
    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock

    def now_ms(self) -> int:
        self._clock.advance(ms=1)
        return self._clock.now_ms()


@pytest.fixture
def app(server: InProcessServer, clock: ManualClock) -> Iterator[Client]:
    with Client.enroll(server.base, clock=TickingClock(clock)) as c:
        yield c


def workload(material: SimulationSigningMaterial, **measurements: Any) -> SimulatedSgxProvider:
    values = {"mr_enclave": MR_ENCLAVE, "mr_signer": MR_SIGNER, "isv_prod_id": PROD_ID, "isv_svn": SVN}
    values.update(measurements)
    return SimulatedSgxProvider(
        material,
        mr_enclave=bytes.fromhex(values["mr_enclave"]),
        mr_signer=bytes.fromhex(values["mr_signer"]),
        isv_prod_id=values["isv_prod_id"],
        isv_svn=values["isv_svn"],
    )


def bundle_for(
    app: Client, provider: SimulatedSgxProvider, recipient: Recipient | None = None
) -> tuple[Recipient, Bundle]:
    recipient = recipient or Recipient()
    return recipient, recipient.bundle(app.get_attestation_challenge().nonce, provider)


def refused(exc: pytest.ExceptionInfo[EhsmApiError]) -> str:
    return exc.value.message


# --- the gate on a symmetric key ----------------------------------------------------------------


def test_matching_workload_gets_the_plaintext_sealed_to_it(app: Client, material: SimulationSigningMaterial) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    ciphertext = app.encrypt(keyid, b"the secret", aad=b"ctx")  # encrypting is never gated
    recipient, bundle = bundle_for(app, workload(material))
    sealed = app.decrypt_for_recipient(keyid, ciphertext, bundle, aad=b"ctx")
    assert b"the secret" not in sealed
    assert recipient.open(sealed, bundle) == b"the secret"
    # only the recipient's private key opens it (and only for this bundle's nonce)
    with pytest.raises(OpenFailed):
        Recipient().open(sealed, bundle)
    with pytest.raises(OpenFailed):
        recipient.open(sealed, Bundle(bundle.quote, b"\x00" * 32, bundle.recipient_public_key))


def test_without_a_bundle_every_plaintext_path_is_refused(app: Client) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    ciphertext = app.encrypt(keyid, b"x")
    with pytest.raises(EhsmApiError) as exc:
        app.decrypt(keyid, ciphertext)
    assert "has a release policy" in refused(exc) and "attestation" in refused(exc)
    with pytest.raises(EhsmApiError):
        app.generate_data_key(keyid, 32)
    (item,) = app.batch_decrypt([(keyid, ciphertext)])
    assert not item.ok and "has a release policy" in item.message
    (data_key,) = app.batch_generate_data_key([(keyid, 32)])
    assert not data_key.ok and "has a release policy" in data_key.message
    wrapped = app.generate_data_key_without_plaintext(keyid, 32)  # no plaintext leaves: allowed
    assert len(wrapped) > 32
    other = app.create_key("EH_AES_GCM_256")
    with pytest.raises(EhsmApiError):  # re-encrypting under an ungated key would lift the gate
        app.call("ReEncrypt", {"keyid": keyid, "ciphertext": _b64(ciphertext), "destinationKeyId": other})
    same = app.create_key("EH_AES_GCM_256", release_policy=POLICY)  # the same policy keeps the gate
    moved = app.call("ReEncrypt", {"keyid": keyid, "ciphertext": _b64(ciphertext), "destinationKeyId": same})
    assert moved["ciphertext"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_data_keys_and_export_are_sealed(app: Client, material: SimulationSigningMaterial) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    recipient, bundle = bundle_for(app, workload(material))
    answer = app.generate_data_key_for_recipient(keyid, 32, bundle)
    data_key = recipient.open(answer.ciphertext_for_recipient, bundle)
    assert len(data_key) == 32
    recipient2, bundle2 = bundle_for(app, workload(material))
    rsa = app.create_key("EH_RSA_2048", keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT")
    exported = app.export_data_key_for_recipient(keyid, rsa, answer.ciphertext, bundle2)
    assert recipient2.open(exported, bundle2) == data_key
    with pytest.raises(EhsmApiError):  # without a bundle the gated data key cannot be exported under rsa
        app.export_data_key(keyid, rsa, answer.ciphertext)


@pytest.mark.parametrize(
    "change",
    [
        {"mr_enclave": OTHER},
        {"mr_signer": OTHER},
        {"isv_prod_id": PROD_ID + 1},
        {"isv_svn": SVN - 1},
    ],
    ids=["mrEnclave", "mrSigner", "isvProdId", "minIsvSvn"],
)
def test_every_mismatching_field_is_refused_without_naming_it(
    app: Client, material: SimulationSigningMaterial, change: dict[str, Any]
) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    policy_id = app.get_key_release_policy(keyid).policy_id
    ciphertext = app.encrypt(keyid, b"x")
    _, bundle = bundle_for(app, workload(material, **change))
    with pytest.raises(EhsmApiError) as exc:
        app.decrypt_for_recipient(keyid, ciphertext, bundle)
    message = refused(exc)
    assert message == f"Release refused: the attestation does not satisfy release policy {policy_id}."
    for field in ("mrEnclave", "mrSigner", "isvProdId", "minIsvSvn", "mr_enclave"):
        assert field not in message


def test_a_higher_svn_and_any_alternative_are_enough(app: Client, material: SimulationSigningMaterial) -> None:
    policy = {"anyOf": [{"tee": "SGX", "mrEnclave": OTHER}, {"tee": "TDX", "mrTd": "ab" * 48}, *POLICY["anyOf"]]}
    keyid = app.create_key("EH_AES_GCM_256", release_policy=policy)
    recipient, bundle = bundle_for(app, workload(material, isv_svn=SVN + 5))
    sealed = app.decrypt_for_recipient(keyid, app.encrypt(keyid, b"ok"), bundle)
    assert recipient.open(sealed, bundle) == b"ok"


def test_all_alternatives_failing_is_refused(app: Client, material: SimulationSigningMaterial) -> None:
    policy = {"anyOf": [{"tee": "SGX", "mrEnclave": OTHER}, {"tee": "TDX", "mrTd": "ab" * 48}]}
    keyid = app.create_key("EH_AES_GCM_256", release_policy=policy)
    _, bundle = bundle_for(app, workload(material))
    with pytest.raises(EhsmApiError) as exc:
        app.decrypt_for_recipient(keyid, app.encrypt(keyid, b"x"), bundle)
    assert "does not satisfy release policy rp-" in refused(exc)


# --- freshness and binding ----------------------------------------------------------------------


def test_a_nonce_is_accepted_once(app: Client, material: SimulationSigningMaterial) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    ciphertext = app.encrypt(keyid, b"x")
    recipient, bundle = bundle_for(app, workload(material))
    assert recipient.open(app.decrypt_for_recipient(keyid, ciphertext, bundle), bundle) == b"x"
    with pytest.raises(EhsmApiError) as exc:
        app.decrypt_for_recipient(keyid, ciphertext, bundle)
    assert "nonce is unknown, expired or already used" in refused(exc)


def test_a_stale_nonce_is_refused(app: Client, material: SimulationSigningMaterial, clock: ManualClock) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    ciphertext = app.encrypt(keyid, b"x")
    _, fresh = bundle_for(app, workload(material))
    _, stale = bundle_for(app, workload(material))
    clock.advance(seconds=299)
    app.decrypt_for_recipient(keyid, ciphertext, fresh)  # 4 min 59 s: still valid
    clock.advance(seconds=2)
    with pytest.raises(EhsmApiError) as exc:
        app.decrypt_for_recipient(keyid, ciphertext, stale)
    assert "nonce is unknown, expired or already used" in refused(exc)


def test_another_apps_nonce_is_refused(
    app: Client, server: InProcessServer, clock: ManualClock, material: SimulationSigningMaterial
) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    with Client.enroll(server.base, clock=TickingClock(clock)) as other:
        _, bundle = bundle_for(other, workload(material))
    with pytest.raises(EhsmApiError) as exc:
        app.decrypt_for_recipient(keyid, app.encrypt(keyid, b"x"), bundle)
    assert "nonce is unknown" in refused(exc)


def test_report_data_bound_to_another_key_is_refused(app: Client, material: SimulationSigningMaterial) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    _, genuine = bundle_for(app, workload(material))
    thief = Recipient()  # swaps in its own key: the quote binds the workload's key, not this one
    swapped = Bundle(genuine.quote, genuine.nonce, thief.public_key_der)
    with pytest.raises(EhsmApiError) as exc:
        app.decrypt_for_recipient(keyid, app.encrypt(keyid, b"x"), swapped)
    assert "report data is not SHA-512(nonce || recipientPublicKey)" in refused(exc)


def test_a_p256_recipient_and_a_malformed_one(app: Client, material: SimulationSigningMaterial) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    ciphertext = app.encrypt(keyid, b"p256")
    private = ec.generate_private_key(ec.SECP256R1())
    _, bundle = bundle_for(app, workload(material), Recipient(private))
    sealed = app.decrypt_for_recipient(keyid, ciphertext, bundle)
    assert open_sealed(private, sealed, bundle.nonce) == b"p256"
    with pytest.raises(OpenFailed):
        open_sealed(x25519.X25519PrivateKey.generate(), sealed, bundle.nonce)
    _, good = bundle_for(app, workload(material))
    with pytest.raises(EhsmApiError) as exc:
        app.decrypt_for_recipient(keyid, ciphertext, Bundle(good.quote, good.nonce, b"\x30\x03\x02\x01\x00"))
    assert "recipientPublicKey" in refused(exc)


# --- policies: validation, changes, secrets -----------------------------------------------------


def test_policies_are_validated_when_put(app: Client) -> None:
    keyid = app.create_key("EH_AES_GCM_256")
    bad = [
        ({"anyOf": [{"tee": "SGX", "mrEnclave": MR_ENCLAVE, "colour": "red"}]}, "unknown field 'colour'"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": MR_ENCLAVE[:-2]}]}, "64 hex digits"),
        ({"anyOf": [{"tee": "TDX", "mrTd": MR_ENCLAVE}]}, "96 hex digits"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": MR_ENCLAVE, "isvProdId": "7"}]}, "integer"),
        ({"anyOf": [{"tee": "SGX", "mrTd": "ab" * 48, "mrEnclave": MR_ENCLAVE}]}, "unknown field 'mrTd'"),
        ({"anyOf": [{"tee": "SGX", "mrEnclave": MR_ENCLAVE, "tcbStatuses": ["Revoked"]}]}, "cannot be allowed"),
        ({"anyOf": []}, "non-empty"),
        ("not json", "not a JSON document"),
    ]
    for policy, reason in bad:
        with pytest.raises(EhsmApiError) as exc:
            app.put_key_release_policy(keyid, policy)
        assert "releasePolicy" in refused(exc) and reason in refused(exc), (policy, refused(exc))
    assert app.get_key_release_policy(keyid).policy is None  # nothing changed


def test_changing_or_removing_a_policy_needs_an_attestation_meeting_it(
    app: Client, material: SimulationSigningMaterial
) -> None:
    keyid = app.create_key("EH_AES_GCM_256")
    first = app.put_key_release_policy(keyid, POLICY)  # the first policy: the apikey suffices
    assert first.policy is not None and first.policy["anyOf"][0]["tcbStatuses"] == ["UpToDate"]
    assert app.get_key_release_policy(keyid) == first
    with pytest.raises(EhsmApiError) as exc:  # a stolen apikey cannot lift the gate
        app.delete_key_release_policy(keyid)
    assert "has a release policy" in refused(exc)
    _, wrong = bundle_for(app, workload(material, mr_enclave=OTHER))
    with pytest.raises(EhsmApiError):
        app.put_key_release_policy(keyid, {"anyOf": [{"tee": "SGX", "mrEnclave": OTHER}]}, wrong)
    _, bundle = bundle_for(app, workload(material))
    removed = app.delete_key_release_policy(keyid, bundle)
    assert removed.policy is None and removed.policy_id == ""
    assert app.decrypt(keyid, app.encrypt(keyid, b"free")) == b"free"


def test_secret_policies_gate_get_secret_value(app: Client, material: SimulationSigningMaterial) -> None:
    app.create_secret("gated-secret", "hunter2", release_policy=POLICY)
    with pytest.raises(EhsmApiError) as exc:
        app.get_secret_value("gated-secret")
    assert "The secret has a release policy" in refused(exc)
    recipient, bundle = bundle_for(app, workload(material))
    answer = app.get_secret_value_for_recipient("gated-secret", bundle)
    assert (answer.secret_name, answer.version_id) == ("gated-secret", 1)
    assert recipient.open(answer.ciphertext_for_recipient, bundle) == b"hunter2"
    app.create_secret("plain-secret", "open")
    assert app.get_secret_release_policy("plain-secret").policy is None
    app.put_secret_release_policy("plain-secret", POLICY)
    with pytest.raises(EhsmApiError):
        app.get_secret_value("plain-secret")
    _, wrong = bundle_for(app, workload(material, mr_signer=OTHER))
    with pytest.raises(EhsmApiError) as exc:
        app.get_secret_value_for_recipient("plain-secret", wrong)
    assert "does not satisfy release policy" in refused(exc)


def test_a_secret_under_a_gated_key_is_gated_by_the_key(app: Client, material: SimulationSigningMaterial) -> None:
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    app.create_secret("under-gated-key", "v", encryption_key_id=keyid)
    with pytest.raises(EhsmApiError):
        app.get_secret_value("under-gated-key")
    recipient, bundle = bundle_for(app, workload(material))
    answer = app.get_secret_value_for_recipient("under-gated-key", bundle)
    assert recipient.open(answer.ciphertext_for_recipient, bundle) == b"v"


def test_an_ungated_key_with_a_bundle_answers_sealed(app: Client, material: SimulationSigningMaterial) -> None:
    keyid = app.create_key("EH_AES_GCM_256")
    recipient, bundle = bundle_for(app, workload(material, mr_enclave=OTHER))
    sealed = app.decrypt_for_recipient(keyid, app.encrypt(keyid, b"any"), bundle)
    assert recipient.open(sealed, bundle) == b"any"


# --- asymmetric keys, KEMs, key agreement ------------------------------------------------------


def test_asymmetric_decrypt_decapsulate_and_derive_are_gated(app: Client, material: SimulationSigningMaterial) -> None:
    rsa = app.create_key("EH_RSA_2048", keyusage="EH_KEYUSAGE_ENCRYPT_DECRYPT", release_policy=POLICY)
    ciphertext = app.asymmetric_encrypt(rsa, b"rsa secret", "EH_RSA_PKCS1_OAEP")
    with pytest.raises(EhsmApiError):
        app.asymmetric_decrypt(rsa, ciphertext, "EH_RSA_PKCS1_OAEP")
    recipient, bundle = bundle_for(app, workload(material))
    sealed = app.asymmetric_decrypt_for_recipient(rsa, ciphertext, bundle, "EH_RSA_PKCS1_OAEP")
    assert recipient.open(sealed, bundle) == b"rsa secret"

    kem = app.create_key("EH_ML_KEM_768", keyusage="EH_KEYUSAGE_KEY_AGREEMENT", release_policy=POLICY)
    shared, kem_ciphertext = app.encapsulate(kem)  # the public half: never gated
    with pytest.raises(EhsmApiError):
        app.decapsulate(kem, kem_ciphertext)
    (item,) = app.batch_decapsulate([(kem, kem_ciphertext)])  # a batch carries no bundle
    assert not item.ok and "has a release policy" in item.message
    recipient, bundle = bundle_for(app, workload(material))
    assert recipient.open(app.decapsulate_for_recipient(kem, kem_ciphertext, bundle), bundle) == shared

    ecdh = app.create_key("EH_X25519", keyusage="EH_KEYUSAGE_KEY_AGREEMENT", release_policy=POLICY)
    peer = x25519.X25519PrivateKey.generate()
    peer_der = Recipient(peer).public_key_der
    with pytest.raises(EhsmApiError):
        app.derive_shared_secret(ecdh, peer_der)
    recipient, bundle = bundle_for(app, workload(material))
    derived = recipient.open(app.derive_shared_secret_for_recipient(ecdh, peer_der, bundle), bundle)
    own_public = x25519.X25519PublicKey.from_public_bytes(_raw_x25519(app.get_public_key(ecdh)))
    assert derived == peer.exchange(own_public)


def _raw_x25519(pem: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, x25519.X25519PublicKey)
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- the AWS door -------------------------------------------------------------------------------


def test_the_aws_door_never_releases_a_gated_key(app: Client, server: InProcessServer, clock: ManualClock) -> None:
    clock.set(time.time_ns() // 1_000_000)  # SigV4 compares the request time with the server's clock
    keyid = app.create_key("EH_AES_GCM_256", release_policy=POLICY)
    client = kms(server.url, app.appid, app.apikey)
    blob = client.encrypt(KeyId=keyid, Plaintext=b"aws")["CiphertextBlob"]
    other = app.create_key("EH_AES_GCM_256")  # no policy: ReEncrypt may not move a gated ciphertext there
    for call in (
        lambda: client.decrypt(CiphertextBlob=blob),
        lambda: client.decrypt(CiphertextBlob=blob, KeyId=keyid),
        lambda: client.generate_data_key(KeyId=keyid, KeySpec="AES_256"),
        lambda: client.generate_data_key_pair(KeyId=keyid, KeyPairSpec="ECC_NIST_P256"),
        lambda: client.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    wrapped = client.generate_data_key_without_plaintext(KeyId=keyid, KeySpec="AES_256")
    assert "Plaintext" not in wrapped and wrapped["CiphertextBlob"]
    pair = client.generate_data_key_pair_without_plaintext(KeyId=keyid, KeyPairSpec="ECC_NIST_P256")
    assert "PrivateKeyPlaintext" not in pair and pair["PrivateKeyCiphertextBlob"] and pair["PublicKey"]


# --- the CLI ----------------------------------------------------------------------------------------


def test_cli_release_policy_put_get_delete(
    app: Client, server: InProcessServer, clock: ManualClock, material: SimulationSigningMaterial, tmp_path: Any
) -> None:
    """`pyehsm key release-policy put|get|delete`: the first policy needs only the apikey; replacing or removing
    it needs a bundle satisfying it (--bundle FILE, JSON of base64 fields)."""
    clock.set(time.time_ns() // 1_000_000)  # the CLI's client signs with the wall clock
    env = cli_env(app)
    keyid = app.create_key("EH_AES_GCM_256")
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))
    put = run(["key", "release-policy", "put", keyid, str(policy_file), "-o", "json"], env)
    assert put.exit_code == 0, put.output
    policy_id = json.loads(put.stdout)["policyId"]
    assert policy_id.startswith("rp-")
    got = json.loads(run(["key", "release-policy", "get", keyid, "-o", "json"], env).stdout)
    canonical = {"anyOf": [{**POLICY["anyOf"][0], "tcbStatuses": ["UpToDate"]}]}  # the default made explicit
    assert (got["policyId"], got["releasePolicy"]) == (policy_id, canonical)
    assert policy_id in run(["key", "release-policy", "get", keyid], env).stdout

    again = run(["key", "release-policy", "delete", keyid], env)  # no bundle: the policy guards itself
    assert again.exit_code == 1 and "must carry an attestation bundle" in again.output
    _, bundle = bundle_for(app, workload(material))
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(bundle.payload()))
    deleted = run(["key", "release-policy", "delete", keyid, "--bundle", str(bundle_file), "-o", "json"], env)
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(deleted.stdout)["releasePolicy"] is None
    assert app.get_key_release_policy(keyid).policy is None
    bad = run(["key", "release-policy", "put", keyid, str(policy_file), "--bundle", str(policy_file)], env)
    assert bad.exit_code == 2 and "not an attestation bundle" in bad.output
