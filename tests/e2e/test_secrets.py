"""The secrets manager end to end over real HTTP (docs/protocol.md section 5).

Most tests use the shared `pyehsm serve` subprocess with a fresh app each; the deletion window and
the purge use the in-process server whose clock only moves when the test says so.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pyehsm.client import Client, Response
from pyehsm.clock import DAY_MS, HOUR_MS, ManualClock
from pyehsm.protocols.ehsm.errors import (
    DUPLICATE_NAME,
    FORCE_DELETE_VALUE,
    GET_DELETED,
    KEY_GONE,
    KEY_UNUSABLE,
    MODIFY_DELETED,
    PUT_DELETED,
    ROTATION_FORMAT,
    ROTATION_RANGE,
    SECRET_NOT_FOUND,
    UNKNOWN_VERSION,
)
from tests.support.server import InProcessServer, ServerProcess

SPECIAL = '  a&b=c%20+d "q"\t秘密 ünï 🙂 '  # never trimmed, re-encoded or escaped before signing


def req(c: Client, action: str, payload: dict[str, Any] | None = None) -> Response:
    """Sign and send one request with a fresh nonce, so that two identical requests in one millisecond
    are not taken for a replay."""
    return c.post_raw(action, c.envelope(payload, nonce=uuid.uuid4().hex))


def ok(resp: Response) -> dict[str, Any]:
    assert resp.code == 200, resp.message
    assert "success" in resp.message.lower(), resp.message
    return resp.result


def fails(resp: Response, message: str) -> None:
    assert (resp.code, resp.message, resp.result) == (400, message, {})


def create(c: Client, name: Any, data: Any, **extra: Any) -> Response:
    return req(c, "CreateSecret", {"secretName": name, "secretData": data, **extra})


def get(c: Client, name: str, version: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"secretName": name}
    if version is not None:
        payload["versionId"] = version
    return ok(req(c, "GetSecretValue", payload))


def db_rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# -- create / get / describe / list / versions ---------------------------------------------------------
def test_create_get_put_versions_describe_and_list(client: Client) -> None:
    resp = create(client, "secretName01", "secretData01", description="desc01")
    assert ok(resp) == {}
    assert resp.message == "The secretName01 create success."

    first = get(client, "secretName01")
    assert first["secretName"] == "secretName01"
    assert first["secretData"] == "secretData01"
    assert first["versionId"] == 1
    created = first["createTime"]

    described = ok(req(client, "DescribeSecret", {"secretName": "secretName01"}))
    assert described["secretName"] == "secretName01"
    assert described["description"] == "desc01"
    assert described["createTime"] == created
    assert described["rotationInterval"] == described["rationalInterval"] == "30d"
    assert described["lastRotationDate"] == 0
    assert described["nextRotationDate"] == created + 30 * DAY_MS
    assert described["plannedDeleteTime"] == 0  # always sent: Intel's Python SDK model requires it
    assert "secretData01" not in repr(described)

    for n in (2, 3):
        resp = req(client, "PutSecretValue", {"secretName": "secretName01", "secretData": f"secretData0{n}"})
        assert ok(resp) == {}
        assert resp.message == "The secretName01 new version put success."

    latest = get(client, "secretName01")
    assert (latest["versionId"], latest["secretData"]) == (3, "secretData03")
    assert get(client, "secretName01", 1)["secretData"] == "secretData01"
    assert get(client, "secretName01", 2)["secretData"] == "secretData02"

    resp = req(client, "ListSecretVersionIds", {"secretName": "secretName01"})
    versions = ok(resp)
    assert resp.message == "List secret versionIds success."
    assert versions["secretName"] == "secretName01"
    assert versions["totalCount"] == 3
    assert [v["versionId"] for v in versions["versionIds"]] == [3, 2, 1]
    assert versions["versionIds"][2]["createTime"] == created
    assert versions["versionIds"][0]["createTime"] == latest["createTime"]

    rotated = ok(req(client, "DescribeSecret", {"secretName": "secretName01"}))
    assert rotated["lastRotationDate"] == latest["createTime"]
    assert rotated["nextRotationDate"] == latest["createTime"] + 30 * DAY_MS

    ok(create(client, "secretName02", "x", rotationInterval="6h"))
    resp = req(client, "ListSecrets", {})
    listed = ok(resp)
    assert resp.message == "List secrets success."
    assert listed["totalCount"] == 2
    assert listed["secretList"][0] == {"secretName": "secretName01", "description": "desc01", "createTime": created}
    assert listed["secretList"][1]["secretName"] == "secretName02"
    assert listed["secretList"][1]["description"] == ""
    only = ok(req(client, "ListSecrets", {"secretName": "secretName02"}))
    assert only["totalCount"] == 1 and only["secretList"][0]["secretName"] == "secretName02"
    assert ok(req(client, "ListSecrets", {"secretName": "nope"})) == {"totalCount": 0, "secretList": []}
    assert ok(req(client, "ListSecrets", {"secretName": ""}))["totalCount"] == 2  # "" filters nothing
    assert ok(req(client, "ListSecrets"))["totalCount"] == 2  # nor does a request without payload
    six = ok(req(client, "DescribeSecret", {"secretName": "secretName02"}))
    assert six["nextRotationDate"] == six["createTime"] + 6 * HOUR_MS

    # The typed client methods speak the same wire format.
    assert client.get_secret_value("secretName01", 2).secret_data == "secretData02"
    assert [v.version_id for v in client.list_secret_version_ids("secretName01").versions] == [3, 2, 1]
    assert client.describe_secret("secretName02").rotation_interval == "6h"


def test_update_description(client: Client) -> None:
    ok(create(client, "s", "v", description="old"))
    resp = req(client, "UpdateSecretDesc", {"secretName": "s", "description": "new & improved"})
    assert ok(resp) == {} and resp.message == "Update secret description success."
    described = ok(req(client, "DescribeSecret", {"secretName": "s"}))
    assert described["description"] == "new & improved"
    assert described["updateTime"] >= described["createTime"]
    ok(req(client, "UpdateSecretDesc", {"secretName": "s"}))  # description omitted: cleared
    assert ok(req(client, "DescribeSecret", {"secretName": "s"}))["description"] == ""
    assert get(client, "s")["secretData"] == "v"  # the value is untouched
    assert ok(req(client, "ListSecretVersionIds", {"secretName": "s"}))["totalCount"] == 1


def test_special_characters_round_trip_literally(client: Client) -> None:
    name, data, desc = SPECIAL, SPECIAL + "\n\r line2 \\ / = & %41", SPECIAL * 3
    resp = create(client, name, data, description=desc)
    ok(resp)
    assert resp.message == f"The {name} create success."
    value = get(client, name)
    assert (value["secretName"], value["secretData"]) == (name, data)
    listed = ok(req(client, "ListSecrets", {"secretName": name}))["secretList"]
    assert [(s["secretName"], s["description"]) for s in listed] == [(name, desc)]
    assert ok(req(client, "DescribeSecret", {"secretName": name}))["description"] == desc
    assert ok(req(client, "ListSecretVersionIds", {"secretName": name}))["secretName"] == name
    ok(req(client, "PutSecretValue", {"secretName": name, "secretData": data[::-1]}))
    assert get(client, name)["secretData"] == data[::-1]
    fails(req(client, "GetSecretValue", {"secretName": name.strip()}), SECRET_NOT_FOUND)  # no trimming
    ok(create(client, name.strip(), "other"))  # a different name
    assert get(client, name)["secretData"] == data[::-1]


def test_size_limits(client: Client) -> None:
    ok(create(client, "n" * 64, "é" * 4096, description="d" * 4096))
    assert get(client, "n" * 64)["secretData"] == "é" * 4096
    fails(create(client, "n" * 65, "v"), "Parameter invalid, The secretName length error.")
    fails(create(client, "", "v"), "Missing required parameters, The secretName cannot be empty.")
    fails(
        req(client, "CreateSecret", {"secretData": "v"}), "Missing required parameters, The secretName cannot be empty."
    )
    fails(create(client, "s", "v" * 4097), "Parameter invalid, The secretData length error.")
    fails(create(client, "s", ""), "Missing required parameters, The secretData cannot be empty.")
    fails(create(client, "s", "v", description="d" * 4097), "Parameter invalid, The description length error.")
    fails(create(client, 5, "v"), "Parameter invalid, The secretName must be of string type.")
    fails(create(client, "s", 5), "Parameter invalid, The secretData must be of string type.")
    fails(
        req(client, "PutSecretValue", {"secretName": "n" * 64, "secretData": "v" * 4097}),
        "Parameter invalid, The secretData length error.",
    )
    fails(
        req(client, "UpdateSecretDesc", {"secretName": "n" * 64, "description": "d" * 4097}),
        "Parameter invalid, The description length error.",
    )
    fails(req(client, "ListSecrets", {"secretName": "n" * 65}), "Parameter invalid, The secretName length error.")
    assert ok(req(client, "ListSecrets", {}))["totalCount"] == 1  # nothing invalid was stored


def test_duplicate_name(client: Client, other_client: Client) -> None:
    ok(create(client, "dup", "one"))
    fails(create(client, "dup", "two"), DUPLICATE_NAME)
    assert get(client, "dup")["secretData"] == "one"
    ok(create(other_client, "dup", "theirs"))  # names are unique per app only
    assert get(other_client, "dup")["secretData"] == "theirs"
    assert get(client, "dup")["secretData"] == "one"


def test_rotation_interval(client: Client) -> None:
    for good in ("6h", "360m", "8760h", "365d", "1d"):
        ok(create(client, f"ok-{good}", "v", rotationInterval=good))
        assert ok(req(client, "DescribeSecret", {"secretName": f"ok-{good}"}))["rotationInterval"] == good
    for out_of_range in ("5h", "359m", "9999s", "0d", "8761h", "366d"):
        fails(create(client, "bad", "v", rotationInterval=out_of_range), ROTATION_RANGE)
    for malformed in ("30", "30D", "12345h", "3.5d", " 30d", "thirty"):
        fails(create(client, "bad", "v", rotationInterval=malformed), ROTATION_FORMAT)
    assert ok(req(client, "ListSecrets", {"secretName": "bad"}))["totalCount"] == 0


def test_unknown_and_foreign_secrets_answer_alike(client: Client, other_client: Client) -> None:
    ok(create(client, "mine", "value", description="private"))
    name_actions: list[tuple[str, dict[str, Any]]] = [
        ("UpdateSecretDesc", {"description": "x"}),
        ("PutSecretValue", {"secretData": "x"}),
        ("ListSecretVersionIds", {}),
        ("DescribeSecret", {}),
        ("GetSecretValue", {}),
        ("GetSecretValue", {"versionId": 1}),
        ("RestoreSecret", {}),
        ("DeleteSecret", {"recoveryPeriod": 1}),
        ("DeleteSecret", {"forceDelete": "true"}),
    ]
    for action, extra in name_actions:
        fails(req(client, action, {"secretName": "unknown", **extra}), SECRET_NOT_FOUND)
        fails(req(other_client, action, {"secretName": "mine", **extra}), SECRET_NOT_FOUND)
    assert ok(req(other_client, "ListSecrets", {})) == {"totalCount": 0, "secretList": []}
    assert ok(req(other_client, "ListSecrets", {"secretName": "mine"}))["totalCount"] == 0
    # nothing the other app tried changed the secret
    value = get(client, "mine")
    assert (value["secretData"], value["versionId"]) == ("value", 1)
    described = ok(req(client, "DescribeSecret", {"secretName": "mine"}))
    assert described["description"] == "private" and described["plannedDeleteTime"] == 0


def test_unknown_version(client: Client) -> None:
    ok(create(client, "s", "v1"))
    fails(req(client, "GetSecretValue", {"secretName": "s", "versionId": 2}), UNKNOWN_VERSION)
    fails(
        req(client, "GetSecretValue", {"secretName": "s", "versionId": 0}),
        "Parameter invalid, The versionId value must be greater than or equal to 1.",
    )
    fails(
        req(client, "GetSecretValue", {"secretName": "s", "versionId": "1"}),
        "Parameter invalid, The versionId must be of integer type.",
    )
    ok(req(client, "PutSecretValue", {"secretName": "s", "secretData": "v2"}))
    assert get(client, "s", 2)["secretData"] == "v2"


# -- encryption keys -------------------------------------------------------------------------------------
def test_named_key_disable_makes_the_secret_unreadable_until_enabled(client: Client) -> None:
    for spec in ("EH_AES_GCM_256", "EH_SM4_CBC"):
        keyid = client.create_key(spec)
        name = f"with-{spec}"
        ok(create(client, name, "protected", encryptionKeyId=keyid))
        assert get(client, name)["secretData"] == "protected"

        client.disable_key(keyid)
        unusable = KEY_UNUSABLE + "keyid is disabled"
        fails(req(client, "GetSecretValue", {"secretName": name}), unusable)
        fails(req(client, "GetSecretValue", {"secretName": name, "versionId": 1}), unusable)
        fails(req(client, "PutSecretValue", {"secretName": name, "secretData": "new"}), unusable)
        ok(req(client, "DescribeSecret", {"secretName": name}))  # metadata stays readable

        client.enable_key(keyid)
        assert get(client, name)["secretData"] == "protected"
        ok(req(client, "PutSecretValue", {"secretName": name, "secretData": "new"}))
        assert get(client, name)["secretData"] == "new"
        assert get(client, name, 1)["secretData"] == "protected"

        client.delete_key(keyid)
        fails(req(client, "GetSecretValue", {"secretName": name}), KEY_GONE)


def test_encryption_key_must_be_an_enabled_symmetric_encrypt_key_of_the_app(
    client: Client, other_client: Client
) -> None:
    foreign = other_client.create_key("EH_AES_GCM_256")
    disabled = client.create_key("EH_AES_GCM_128")
    client.disable_key(disabled)
    cases = {
        str(uuid.uuid4()): "keyid error",
        "not-a-uuid": "keyid error",
        foreign: "keyid error",
        disabled: "keyid is disabled",
        client.create_key("EH_EC_P256"): "The keyspec EH_EC_P256 does not support Encrypt.",
        client.create_key("EH_SM2"): "The keyspec EH_SM2 does not support Encrypt.",
        client.create_key("EH_HMAC"): "The keyspec EH_HMAC does not support Encrypt.",
        client.create_key("EH_RSA_2048", keyusage="EH_KEYUSAGE_SIGN_VERIFY"): (
            "The keyspec EH_RSA_2048 does not support Encrypt."
        ),
    }
    for keyid, message in cases.items():
        fails(create(client, "s", "v", encryptionKeyId=keyid), message)
    fails(create(client, "s", "v", encryptionKeyId="k" * 65), "Parameter invalid, The encryptionKeyId length error.")
    assert ok(req(client, "ListSecrets", {}))["totalCount"] == 0
    ok(create(client, "s", "v", encryptionKeyId=""))  # "" means the default secrets key, as in the Intel server
    assert get(client, "s")["secretData"] == "v"


def test_default_secrets_key_is_hidden_from_every_key_action(
    server: ServerProcess, client: Client, other_client: Client
) -> None:
    ok(create(client, "s", "value"))
    ok(create(other_client, "s", "theirs"))
    assert client.list_keys() == []
    rows = db_rows(
        server.data_dir / "pyehsm.db",
        "SELECT appid, keyid FROM secret_keys WHERE appid IN (?, ?)",
        client.appid,
        other_client.appid,
    )
    hidden = dict(rows)
    assert len(hidden) == 2 and hidden[client.appid] != hidden[other_client.appid]
    mine = hidden[client.appid]
    for action, payload in [
        ("DisableKey", {"keyid": mine}),
        ("EnableKey", {"keyid": mine}),
        ("DeleteKey", {"keyid": mine}),
        ("GetPublicKey", {"keyid": mine}),
        ("Encrypt", {"keyid": mine, "plaintext": base64.b64encode(b"x").decode()}),
        ("GenerateDataKey", {"keyid": mine, "keylen": 16}),
    ]:
        fails(req(client, action, payload), "keyid error")
    fails(create(client, "named", "v", encryptionKeyId=mine), "keyid error")
    ok(req(client, "DeleteAllKey"))
    assert client.list_keys() == []
    assert get(client, "s")["secretData"] == "value"  # still readable: DeleteAllKey never saw the key
    ok(req(client, "PutSecretValue", {"secretName": "s", "secretData": "value2"}))
    assert get(client, "s")["secretData"] == "value2"
    assert dict(
        db_rows(server.data_dir / "pyehsm.db", "SELECT appid, keyid FROM secret_keys WHERE appid = ?", client.appid)
    ) == {client.appid: mine}  # one default key per app, reused


def test_concurrent_first_use_shares_one_default_key(server: ServerProcess, client: Client) -> None:
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: create(client, f"s{i}", f"v{i}"), range(6)))
    for answer in answers:
        ok(answer)
    assert (
        len(db_rows(server.data_dir / "pyehsm.db", "SELECT keyid FROM secret_keys WHERE appid = ?", client.appid)) == 1
    )
    with ThreadPoolExecutor(6) as pool:
        puts = list(
            pool.map(lambda i: req(client, "PutSecretValue", {"secretName": "s0", "secretData": f"p{i}"}), range(6))
        )
    for answer in puts:
        ok(answer)
    versions = ok(req(client, "ListSecretVersionIds", {"secretName": "s0"}))["versionIds"]
    assert [v["versionId"] for v in versions] == [7, 6, 5, 4, 3, 2, 1]
    assert sorted(get(client, "s0", n)["secretData"] for n in range(2, 8)) == [f"p{i}" for i in range(6)]
    for i in range(1, 6):
        assert get(client, f"s{i}")["secretData"] == f"v{i}"


def test_no_secret_value_is_stored_or_logged_in_the_clear(server: ServerProcess, client: Client) -> None:
    markers = [f"PLAINTEXT-MARKER-{uuid.uuid4().hex}", f"秘密-ünïcödé-{uuid.uuid4().hex}"]
    keyid = client.create_key("EH_AES_GCM_256")
    ok(create(client, "default-key", markers[0]))
    ok(create(client, "named-key", markers[1], encryptionKeyId=keyid))
    ok(req(client, "PutSecretValue", {"secretName": "default-key", "secretData": markers[1]}))
    ok(req(client, "PutSecretValue", {"secretName": "named-key", "secretData": markers[0]}))
    assert get(client, "default-key", 1)["secretData"] == markers[0]
    assert get(client, "named-key")["secretData"] == markers[0]
    fails(create(client, "named-key", markers[0]), DUPLICATE_NAME)
    blobs = b"".join(p.read_bytes() for p in server.data_dir.iterdir() if p.is_file())
    blobs += server.log().encode()
    assert b"named-key" in blobs  # the files read are the live store: names are metadata, stored as is
    assert b"PLAINTEXT-MARKER" not in blobs  # the secret name and description are stored, never a value
    for marker in markers:
        for form in (marker.encode(), base64.b64encode(marker.encode()), marker.encode("utf-16-le")):
            assert form not in blobs
    stored = db_rows(
        server.data_dir / "pyehsm.db",
        "SELECT COUNT(*) FROM secret_versions v JOIN secrets s ON s.secret_id = v.secret_id WHERE s.appid = ?",
        client.appid,
    )
    assert stored == [(4,)]


# -- deletion, recovery window and purge -------------------------------------------------------------------
def test_force_delete(client: Client) -> None:
    ok(create(client, "a", "v"))
    resp = req(client, "DeleteSecret", {"secretName": "a", "forceDelete": "true"})
    assert ok(resp) == {} and resp.message == "The a delete success."
    fails(req(client, "GetSecretValue", {"secretName": "a"}), SECRET_NOT_FOUND)
    fails(req(client, "RestoreSecret", {"secretName": "a"}), SECRET_NOT_FOUND)
    assert ok(req(client, "ListSecrets", {}))["totalCount"] == 0
    ok(create(client, "a", "again"))  # the name is free at once
    assert get(client, "a") | {"createTime": 0} == {
        "secretName": "a",
        "secretData": "again",
        "versionId": 1,
        "createTime": 0,
    }
    ok(req(client, "DeleteSecret", {"secretName": "a", "force_delete": "true"}))  # the Python SDK's spelling
    fails(req(client, "DescribeSecret", {"secretName": "a"}), SECRET_NOT_FOUND)
    ok(create(client, "b", "v"))
    ok(req(client, "DeleteSecret", {"secretName": "b", "forceDelete": "TRUE", "recoveryPeriod": 9}))
    fails(req(client, "DescribeSecret", {"secretName": "b"}), SECRET_NOT_FOUND)
    ok(create(client, "c", "v"))
    client.delete_secret("c", force_delete=True)  # the typed client method sends forceDelete "true"
    fails(req(client, "DescribeSecret", {"secretName": "c"}), SECRET_NOT_FOUND)


def test_delete_parameter_errors(client: Client) -> None:
    ok(create(client, "a", "v"))
    for bad in ("yes", "1", " true", 1, 0):
        fails(req(client, "DeleteSecret", {"secretName": "a", "forceDelete": bad}), FORCE_DELETE_VALUE)
        fails(req(client, "DeleteSecret", {"secretName": "a", "force_delete": bad}), FORCE_DELETE_VALUE)
    fails(
        req(client, "DeleteSecret", {"secretName": "a", "recoveryPeriod": 0}),
        "Parameter invalid, The recoveryPeriod value must be greater than or equal to 1.",
    )
    fails(
        req(client, "DeleteSecret", {"secretName": "a", "recoveryPeriod": 366}),
        "Parameter invalid, The recoveryPeriod value must be less than or equal to 365.",
    )
    fails(
        req(client, "DeleteSecret", {"secretName": "a", "recoveryPeriod": "5"}),
        "Parameter invalid, The recoveryPeriod must be of integer type.",
    )
    described = ok(req(client, "DescribeSecret", {"secretName": "a"}))
    assert described["plannedDeleteTime"] == 0  # no failed request scheduled anything
    assert get(client, "a")["secretData"] == "v"
    resp = req(client, "DeleteSecret", {"secretName": "a", "forceDelete": "false", "recoveryPeriod": 365})
    assert ok(resp) == {} and resp.message.startswith("The a will be deleted after 365 days.")


@pytest.fixture
def tick(clock: ManualClock) -> Iterator[Any]:
    """Move the manual clock 1 ms (two identical requests at one timestamp would be a replay)."""

    def advance() -> int:
        clock.advance(ms=1)
        return clock.now_ms()

    yield advance


def purge_now(srv: InProcessServer) -> int:
    """Run one purge pass on the server's own event loop (deterministic; the background task does the same)."""
    runtime = srv.runtime
    task = next(t for t in runtime.tasks if t.get_name() == "pyehsm-secret-purge")
    assert not task.done()  # the periodic purge is running on this node
    future = asyncio.run_coroutine_threadsafe(runtime.services.secrets.purge_once(), task.get_loop())
    return int(future.result(timeout=30))


def test_deletion_window_restore_and_purge(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock, tick: Any
) -> None:
    c = manual_client
    db = manual_server.settings.sqlite_path
    ok(create(c, "a", "v1", description="keep me", rotationInterval="12h"))
    tick()
    ok(req(c, "PutSecretValue", {"secretName": "a", "secretData": "v2"}))
    ok(create(c, "b", "b1"))
    ok(create(c, "c", "c1"))
    before = ok(req(c, "DescribeSecret", {"secretName": "a"}))

    # Scheduled deletion: refused for reads and writes, visible as pending, restorable.
    scheduled_at = tick()
    resp = req(c, "DeleteSecret", {"secretName": "a", "recoveryPeriod": 7})
    assert ok(resp) == {}
    assert resp.message.startswith("The a will be deleted after 7 days.")
    planned = scheduled_at + 7 * DAY_MS
    described = ok(req(c, "DescribeSecret", {"secretName": "a"}))
    assert before["plannedDeleteTime"] == 0
    assert described == before | {"plannedDeleteTime": planned}
    listed = ok(req(c, "ListSecrets", {"secretName": "a"}))["secretList"]
    assert listed == [
        {"secretName": "a", "description": "keep me", "createTime": before["createTime"], "plannedDeleteTime": planned}
    ]
    assert ok(req(c, "ListSecretVersionIds", {"secretName": "a"}))["totalCount"] == 2
    fails(req(c, "GetSecretValue", {"secretName": "a"}), GET_DELETED)
    fails(req(c, "GetSecretValue", {"secretName": "a", "versionId": 1}), GET_DELETED)
    fails(req(c, "PutSecretValue", {"secretName": "a", "secretData": "v3"}), PUT_DELETED)
    fails(req(c, "UpdateSecretDesc", {"secretName": "a", "description": "x"}), MODIFY_DELETED)
    fails(create(c, "a", "other"), DUPLICATE_NAME)
    rescheduled_at = tick()
    ok(req(c, "DeleteSecret", {"secretName": "a", "recoveryPeriod": 8}))  # while pending: moves the date
    assert ok(req(c, "DescribeSecret", {"secretName": "a"}))["plannedDeleteTime"] == rescheduled_at + 8 * DAY_MS

    clock.advance(days=6)
    assert purge_now(manual_server) == 0
    resp = req(c, "RestoreSecret", {"secretName": "a"})
    assert ok(resp) == {} and resp.message == "The a restore success."
    assert ok(req(c, "DescribeSecret", {"secretName": "a"})) == before  # intact, nothing pending
    assert get(c, "a")["secretData"] == "v2"
    assert get(c, "a", 1)["secretData"] == "v1"
    tick()
    ok(req(c, "RestoreSecret", {"secretName": "a"}))  # restoring a live secret is a no-op

    # Default window (30 days) and the purge at its end.
    deleted_at = tick()
    resp = req(c, "DeleteSecret", {"secretName": "a"})
    assert resp.message.startswith("The a will be deleted after 30 days.") and "success" in resp.message
    ok(req(c, "DeleteSecret", {"secretName": "b", "recoveryPeriod": 1}))
    secret_a = db_rows(db, "SELECT secret_id FROM secrets WHERE name = 'a'")[0][0]
    clock.set(deleted_at + 30 * DAY_MS - 1)
    assert purge_now(manual_server) == 1  # only b is due
    assert ok(req(c, "DescribeSecret", {"secretName": "a"}))["plannedDeleteTime"] == deleted_at + 30 * DAY_MS
    fails(req(c, "DescribeSecret", {"secretName": "b"}), SECRET_NOT_FOUND)
    clock.set(deleted_at + 30 * DAY_MS)
    # Due: gone for every action at once, even before the purge runs.
    fails(req(c, "RestoreSecret", {"secretName": "a"}), SECRET_NOT_FOUND)
    fails(req(c, "GetSecretValue", {"secretName": "a"}), SECRET_NOT_FOUND)
    assert [s["secretName"] for s in ok(req(c, "ListSecrets", {}))["secretList"]] == ["c"]
    assert db_rows(db, "SELECT COUNT(*) FROM secret_versions WHERE secret_id = ?", secret_a) == [(2,)]
    assert purge_now(manual_server) == 1
    assert purge_now(manual_server) == 0
    assert db_rows(db, "SELECT COUNT(*) FROM secrets WHERE secret_id = ?", secret_a) == [(0,)]
    assert db_rows(db, "SELECT COUNT(*) FROM secret_versions WHERE secret_id = ?", secret_a) == [(0,)]
    assert get(c, "c")["secretData"] == "c1"  # untouched
    tick()
    ok(create(c, "a", "fresh"))
    assert (get(c, "a")["versionId"], get(c, "a", 1)["secretData"]) == (1, "fresh")


def test_due_secret_is_replaced_by_a_new_one_before_the_purge_runs(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    c = manual_client
    ok(create(c, "s", "old"))
    ok(req(c, "DeleteSecret", {"secretName": "s", "recoveryPeriod": 1}))
    clock.advance(days=1)
    ok(create(c, "s", "new"))
    assert get(c, "s") | {"createTime": 0} == {"secretName": "s", "secretData": "new", "versionId": 1, "createTime": 0}
    assert purge_now(manual_server) == 0  # the due one was removed when the name was reused
    assert ok(req(c, "ListSecretVersionIds", {"secretName": "s"}))["totalCount"] == 1


def test_purge_by_several_processes_at_once(
    manual_server: InProcessServer, manual_client: Client, clock: ManualClock
) -> None:
    """Several nodes purging together: each due secret is removed exactly once, nobody fails."""
    c = manual_client
    for i in range(8):
        ok(create(c, f"s{i}", f"v{i}"))
        ok(req(c, "DeleteSecret", {"secretName": f"s{i}", "recoveryPeriod": 1 if i < 6 else 2}))
    clock.advance(days=1)
    from pyehsm.store.sqlite import SqliteStore

    barrier = threading.Barrier(4)
    counts: list[int] = []
    errors: list[BaseException] = []

    def node() -> None:
        async def run() -> int:
            store = SqliteStore(manual_server.settings.sqlite_path)  # its own connection, like another process
            await store.open()
            try:
                barrier.wait()
                return await store.purge_secrets(clock.now_ms())
            finally:
                await store.close()

        try:
            counts.append(asyncio.run(run()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=node) for _ in range(3)]
    for t in threads:
        t.start()
    barrier.wait()
    counts.append(purge_now(manual_server))  # the server's own pass joins in
    for t in threads:
        t.join()
    assert not errors and sum(counts) == 6
    listed = ok(req(c, "ListSecrets", {}))["secretList"]
    assert [s["secretName"] for s in listed] == ["s6", "s7"]
