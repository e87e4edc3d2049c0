"""Metrics and the audit log after a scripted session on a real `pyehsm serve --audit-log FILE`, and the
absence of every secret (plaintext, apikey, key material, secret values, ciphertexts) from both."""

from __future__ import annotations

import base64
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pyehsm.client import Client, EhsmApiError
from pyehsm.store.mapped_replay import PROBE_IMPL
from tests.support.server import ServerProcess, audit_lines_once

PLAINTEXT = b"TOP-SECRET-PLAINTEXT-7d1f"
SECRET_VALUE = "SECRET-VALUE-93ab"
# The fields a request record may carry (docs/audit.md); never a payload value
AUDIT_FIELDS = {
    "v",
    "node",
    "seq",
    "prev",
    "kind",
    "time",
    "request_id",
    "client",
    "door",
    "action",
    "code",
    "latency_us",
}
OPTIONAL_FIELDS = {"appid", "unauthenticated", "keyid", "key_version", "name", "error", "forwarded_for"}


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the text exposition format (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if metric == name and got == want:
            return float(value)
    return 0.0


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    root = tmp_path_factory.mktemp("audited")
    audit = root / "audit.jsonl"
    proc = ServerProcess(root / "data", "--audit-log", str(audit), "--pool-depth", "EH_EC_P256=2,EH_RSA_2048=0").start()
    try:
        yield proc, audit
    finally:
        proc.stop()


def scripted_session(c: Client) -> dict[str, str]:
    keyid = c.create_key("EH_AES_GCM_256")
    ct = c.encrypt(keyid, PLAINTEXT, aad=b"AAD-VALUE")
    assert c.decrypt(keyid, ct, aad=b"AAD-VALUE") == PLAINTEXT
    data_key, wrapped = c.generate_data_key(keyid, 32)
    signer = c.create_key("EH_EC_P256")
    signature = c.sign(signer, PLAINTEXT)
    c.create_secret("observed", SECRET_VALUE)
    assert c.get_secret_value("observed").secret_data == SECRET_VALUE
    with pytest.raises(EhsmApiError):
        c.decrypt(keyid, ct, aad=b"wrong")
    c.disable_key(keyid)
    return {
        "keyid": keyid,
        "signer": signer,
        "ciphertext": base64.b64encode(ct).decode(),
        "data_key": base64.b64encode(data_key).decode(),
        "wrapped": base64.b64encode(wrapped).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def test_audit_log_and_metrics_after_a_session(audited: tuple[ServerProcess, Path]) -> None:
    proc, audit = audited
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600  # private, like every file pyehsm writes
    before = httpx.get(f"{proc.url}/metrics").text
    with proc.client() as c:
        facts = scripted_session(c)
        forged = Client(proc.base, c.appid, "not-the-apikey-not-the-apikey-00")
        with pytest.raises(EhsmApiError, match="sign error"):
            forged.list_key()
        assert httpx.post(f"{proc.base}?Action=Nope", content=b"{}").json()["code"] == 404
        appid, apikey = c.appid, c.apikey
    secrets = [
        apikey,
        PLAINTEXT.decode(),
        base64.b64encode(PLAINTEXT).decode(),
        SECRET_VALUE,
        "AAD-VALUE",
        base64.b64encode(b"AAD-VALUE").decode(),
        facts["ciphertext"],
        facts["data_key"],
        facts["wrapped"],
        facts["signature"],
    ]

    # -- audit: one JSON line per request, the agreed fields only --------------------------------------
    lines = audit_lines_once(audit, lambda e: e.get("code") == 404)  # the last request's line
    lines = [entry for entry in lines if entry["kind"] == "request"]
    mine = [e for e in lines if e.get("appid") == appid and not e.get("unauthenticated")]
    assert all(AUDIT_FIELDS <= set(entry) <= AUDIT_FIELDS | OPTIONAL_FIELDS for entry in lines)
    assert [e["action"] for e in mine] == [
        "CreateKey",
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "CreateKey",
        "Sign",
        "CreateSecret",
        "GetSecretValue",
        "Decrypt",
        "DisableKey",
    ]
    assert [e["code"] for e in mine] == [200] * 8 + [400, 200]
    assert [e["keyid"] for e in mine[1:4]] == [facts["keyid"]] * 3 and mine[5]["keyid"] == facts["signer"]
    assert mine[8]["keyid"] == facts["keyid"]  # a request failing after authentication names app and key
    assert len({e["request_id"] for e in lines}) == len(lines)
    assert all(isinstance(e["latency_us"], int) and e["latency_us"] >= 0 for e in lines)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e["time"]) for e in lines)
    assert [e["name"] for e in mine if e["action"] in ("CreateSecret", "GetSecretValue")] == ["observed"] * 2
    assert mine[8]["error"] == "DecryptionFailed"  # the domain error's class, never its message
    assert mine[1]["key_version"] == 1 and all(e["client"] == "127.0.0.1" and e["door"] == "ehsm" for e in lines)
    enroll = [e for e in lines if e["action"] == "Enroll"]
    assert enroll and all(e["code"] == 200 for e in enroll)
    forged = [e for e in lines if e["code"] == 400 and e["action"] == "ListKey"]  # the forged request
    assert forged and all(e["unauthenticated"] is True and e["error"] == "AuthError" for e in forged)
    assert any(e["code"] == 404 and e["action"] == "" for e in lines)
    text = audit.read_text()
    for secret in secrets:
        assert secret not in text

    # -- metrics -----------------------------------------------------------------------------------------
    metrics = httpx.get(f"{proc.url}/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    after = metrics.text

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("pyehsm_requests_total", action="Encrypt", code="200") == 1
    assert delta("pyehsm_requests_total", action="Decrypt", code="200") == 1
    assert delta("pyehsm_requests_total", action="Decrypt", code="400") == 1
    assert delta("pyehsm_requests_total", action="ListKey", code="400") == 1
    assert delta("pyehsm_requests_total", action="unknown", code="404") == 1
    assert delta("pyehsm_request_duration_seconds_count", action="CreateKey") == 2
    assert delta("pyehsm_request_duration_seconds_bucket", action="Encrypt", le="+Inf") == 1
    assert sample(after, "pyehsm_key_cache_hits_total") >= 2  # decrypt and data key reuse the cipher
    assert sample(after, "pyehsm_key_cache_misses_total") >= 1
    assert sample(after, "pyehsm_key_cache_entries") >= 1
    assert re.search(r'^pyehsm_key_pool_depth\{keyspec="EH_EC_P256"\} \d', after, re.M)
    assert sample(after, "pyehsm_replay_guard_entries") >= 1
    assert sample(after, "pyehsm_info", git_sha=re.search(r'git_sha="([^"]*)"', after)[1], version="0.1.0") == 1  # type: ignore[index]
    assert sample(after, "pyehsm_replay_probe_info", impl=PROBE_IMPL) == 1  # which replay path runs
    for secret in [*secrets, appid, facts["keyid"]]:
        assert secret not in after


def test_metrics_sum_over_workers(tmp_path: Path) -> None:
    """--workers 2: prometheus multiprocess mode; any worker answers the total of both."""
    proc = ServerProcess(tmp_path / "data", "--workers", "2", "--pool-depth", "EH_EC_P256=0,EH_RSA_2048=0").start()
    try:
        with proc.client() as c:
            keyid = c.create_key("EH_AES_GCM_128")
            for i in range(20):
                c.encrypt(keyid, f"m{i}".encode())
        for _ in range(4):  # fresh connections: the scrape may land on either worker
            text = httpx.get(f"{proc.url}/metrics", headers={"Connection": "close"}).text
            assert sample(text, "pyehsm_requests_total", action="Encrypt", code="200") == 20
    finally:
        proc.stop()
    assert (tmp_path / "data" / "metrics").is_dir()
