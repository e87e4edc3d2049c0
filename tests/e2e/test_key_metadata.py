"""DescribeKey, UpdateKeyDescription, aliases, tags, scheduled deletion and ListKey/ListAliases paging over HTTP
(docs/key-metadata.md): every Action, each of its errors (nothing changed by a refusal), per-app isolation,
aliases in every keyid field, and the deletion job driven by the server's injectable clock."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest

from pyehsm.client import Client
from pyehsm.clock import DAY_MS, ManualClock
from tests.support.server import InProcessServer

HELLO = base64.b64encode(b"hello").decode()
KEYID_ERROR = "keyid error"
PENDING = "keyid is pending deletion: cancel the deletion (CancelKeyDeletion) to use it again"
BAD_ALIAS = (
    "Parameter invalid, The alias must be alias/ followed by letters, digits, '/', '_' or '-' (at most 256 characters)."
)
RESERVED = "Parameter invalid, The alias names are reserved: alias/aws/ is reserved for AWS managed keys."


def ok(c: Client, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = c.request(action, payload)
    assert resp.code == 200, (action, payload, resp)
    return dict(resp.result)


def fails(c: Client, action: str, payload: dict[str, Any] | None) -> str:
    resp = c.request(action, payload)
    assert resp.code == 400, (action, payload, resp)
    assert resp.result == {}
    return resp.message


def describe(c: Client, keyid: str) -> dict[str, Any]:
    return ok(c, "DescribeKey", {"keyid": keyid})


def purge(srv: InProcessServer) -> int:
    """One pass of the deletion job on the server's own loop (its clock is the test's ManualClock)."""
    runtime = srv.runtime
    task = next(t for t in runtime.tasks if t.get_name() == "pyehsm-key-deletion")
    return int(asyncio.run_coroutine_threadsafe(runtime.services.key_metadata.purge_once(), task.get_loop()).result(30))


@pytest.fixture
def other(manual_server: InProcessServer, clock: ManualClock) -> Iterator[Client]:
    with Client.enroll(manual_server.base, clock=clock) as c:
        yield c


# -- DescribeKey / UpdateKeyDescription -----------------------------------------------------------------
def test_describe_key_reports_every_piece_of_metadata(manual_client: Client, clock: ManualClock) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    ok(c, "CreateAlias", {"alias": "alias/payments", "keyid": keyid})
    ok(c, "TagKey", {"keyid": keyid, "tags": {"env": "prod"}})
    ok(c, "UpdateKeyDescription", {"keyid": keyid, "description": "payments\tkey & more"})
    d = describe(c, keyid)
    assert d == {
        "keyid": keyid,
        "keyspec": "EH_AES_GCM_256",
        "keyusage": "EH_KEYUSAGE_ENCRYPT_DECRYPT",
        "origin": "EH_INTERNAL_KEY",
        "state": "Enabled",
        "keyState": 1,
        "description": "payments\tkey & more",
        "creationDate": clock.now_ms(),
        "expireTime": d["expireTime"],
        "primaryVersion": 1,
        "versionCount": 1,
        "rotationPeriodInDays": None,
        "nextRotationDate": None,
        "aliases": ["alias/payments"],
        "tags": {"env": "prod"},
        "deletionDate": None,
    }
    assert "material" not in str(d).lower()
    assert describe(c, "alias/payments") == d
    ok(c, "UpdateKeyDescription", {"keyid": keyid})  # absent: no description
    assert describe(c, keyid)["description"] == ""


def test_describe_key_of_an_external_key(manual_client: Client) -> None:
    keyid = manual_client.create_key("EH_AES_GCM_128", "EH_EXTERNAL_KEY")
    d = describe(manual_client, keyid)
    assert (d["state"], d["keyState"], d["origin"]) == ("PendingImport", 0, "EH_EXTERNAL_KEY")


def test_describe_and_describe_update_errors(manual_client: Client, other: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    theirs = other.create_key("EH_AES_GCM_256")
    assert fails(c, "DescribeKey", {"keyid": theirs}) == KEYID_ERROR
    assert fails(c, "DescribeKey", {"keyid": "nope"}) == KEYID_ERROR
    assert fails(c, "DescribeKey", {}) == "Missing required parameters, The keyid cannot be empty."
    assert fails(c, "UpdateKeyDescription", {"keyid": theirs, "description": "x"}) == KEYID_ERROR
    assert (
        fails(c, "UpdateKeyDescription", {"keyid": keyid, "description": "bad\x01"})
        == "Parameter invalid, The description must not contain control characters."
    )
    assert (
        fails(c, "UpdateKeyDescription", {"keyid": keyid, "description": "d" * 8193})
        == "Parameter invalid, The description length error."
    )
    assert describe(c, keyid)["description"] == "" and describe(other, theirs)["description"] == ""


# -- aliases ----------------------------------------------------------------------------------------------
def test_alias_lifecycle(manual_client: Client) -> None:
    c = manual_client
    a, b = c.create_key("EH_AES_GCM_256"), c.create_key("EH_AES_GCM_256")
    ok(c, "CreateAlias", {"alias": "alias/app/db-key_1", "keyid": a})
    ok(c, "CreateAlias", {"alias": "alias/second", "keyid": "alias/app/db-key_1"})  # an alias names the target too
    ct = c.encrypt("alias/app/db-key_1", b"secret")
    assert c.decrypt(a, ct) == b"secret"
    listed = ok(c, "ListAliases")
    assert [(x["alias"], x["keyid"]) for x in listed["list"]] == [("alias/app/db-key_1", a), ("alias/second", a)]
    assert listed["truncated"] is False
    ok(c, "UpdateAlias", {"alias": "alias/app/db-key_1", "keyid": b})
    assert describe(c, "alias/app/db-key_1")["keyid"] == b
    assert [x["alias"] for x in ok(c, "ListAliases", {"keyid": a})["list"]] == ["alias/second"]
    ok(c, "DeleteAlias", {"alias": "alias/second"})
    assert fails(c, "Encrypt", {"keyid": "alias/second", "plaintext": HELLO}) == KEYID_ERROR
    assert describe(c, a)["aliases"] == [] and describe(c, b)["aliases"] == ["alias/app/db-key_1"]


def test_list_key_fills_the_alias_field_in_intels_shape(manual_client: Client) -> None:
    c = manual_client
    keyid, bare = c.create_key("EH_AES_GCM_256"), c.create_key("EH_SM4_CBC")
    ok(c, "CreateAlias", {"alias": "alias/zeta", "keyid": keyid})
    ok(c, "CreateAlias", {"alias": "alias/alpha", "keyid": keyid})
    result = ok(c, "ListKey")
    assert set(result) == {"list"}  # no paging fields unless asked for
    by_id = {k["keyid"]: k for k in result["list"]}
    assert by_id[keyid]["alias"] == "alias/alpha" and by_id[bare]["alias"] == ""
    assert set(by_id[keyid]) == {
        "keyid", "alias", "keyspec", "keyState", "creationDate", "expireTime", "keyusage", "origin", "state"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("payments", BAD_ALIAS),
        ("alias/", BAD_ALIAS),
        ("alias/with space", BAD_ALIAS),
        ("alias/é", BAD_ALIAS),
        ("alias/" + "a" * 251, BAD_ALIAS),
        ("alias/aws/mine", RESERVED),
        ("alias/aws", RESERVED),
        ("alias/\x01", "Parameter invalid, The alias must not contain control characters."),
        ("", "Missing required parameters, The alias cannot be empty."),
    ],
)
def test_bad_alias_names_are_refused(manual_client: Client, alias: str, message: str) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    for action in ("CreateAlias", "UpdateAlias"):
        assert fails(c, action, {"alias": alias, "keyid": keyid}) == message
    assert fails(c, "DeleteAlias", {"alias": alias}) == message
    assert ok(c, "ListAliases")["list"] == []


def test_the_longest_alias_works_in_keyid_fields(manual_client: Client) -> None:
    c = manual_client
    keyid, alias = c.create_key("EH_AES_GCM_256"), "alias/" + "a" * 250
    ok(c, "CreateAlias", {"alias": alias, "keyid": keyid})
    assert c.decrypt(alias, c.encrypt(alias, b"x")) == b"x"
    too_long = "Parameter invalid, The keyid length error."
    assert fails(c, "Encrypt", {"keyid": alias + "a", "plaintext": HELLO}) == too_long
    assert fails(c, "Encrypt", {"keyid": "k" * 65, "plaintext": HELLO}) == too_long


def test_alias_errors(manual_client: Client) -> None:
    c = manual_client
    a, b = c.create_key("EH_AES_GCM_256"), c.create_key("EH_AES_GCM_256")
    ok(c, "CreateAlias", {"alias": "alias/taken", "keyid": a})
    assert (
        fails(c, "CreateAlias", {"alias": "alias/taken", "keyid": b})
        == "Alias already exists, cannot use the same alias"
    )
    assert fails(c, "CreateAlias", {"alias": "alias/new", "keyid": "nope"}) == KEYID_ERROR
    assert fails(c, "CreateAlias", {"alias": "alias/new"}) == "Missing required parameters, The keyid cannot be empty."
    assert fails(c, "UpdateAlias", {"alias": "alias/absent", "keyid": b}) == "alias error"
    assert fails(c, "UpdateAlias", {"alias": "alias/taken", "keyid": "nope"}) == KEYID_ERROR
    for other_kind in (c.create_key("EH_EC_P256"), c.create_key("EH_HMAC"), c.create_key("EH_SM2")):
        assert fails(c, "UpdateAlias", {"alias": "alias/taken", "keyid": other_kind}) == (
            "Parameter invalid, The keyid must name a key of the same kind as the alias's current key "
            "(both symmetric or both asymmetric, with the same keyusage)."
        )
    ok(c, "UpdateAlias", {"alias": "alias/taken", "keyid": c.create_key("EH_SM4_CBC")})  # symmetric, same usage
    ok(c, "UpdateAlias", {"alias": "alias/taken", "keyid": a})
    assert fails(c, "DeleteAlias", {"alias": "alias/absent"}) == "alias error"
    assert fails(c, "ListAliases", {"keyid": "nope"}) == KEYID_ERROR
    assert fails(c, "ListAliases", {"marker": "bogus"}) == (
        "Parameter invalid, The marker is not a marker this listing returned."
    )
    assert fails(c, "ListAliases", {"limit": 0}) == (
        "Parameter invalid, The limit value must be greater than or equal to 1."
    )
    assert [(x["alias"], x["keyid"]) for x in ok(c, "ListAliases")["list"]] == [("alias/taken", a)]


def test_aliases_are_per_app(manual_client: Client, other: Client) -> None:
    mine, theirs = manual_client.create_key("EH_AES_GCM_256"), other.create_key("EH_AES_GCM_256")
    ok(manual_client, "CreateAlias", {"alias": "alias/shared-name", "keyid": mine})
    ok(other, "CreateAlias", {"alias": "alias/shared-name", "keyid": theirs})  # each app has its own namespace
    ok(other, "CreateAlias", {"alias": "alias/only-theirs", "keyid": theirs})
    assert describe(manual_client, "alias/shared-name")["keyid"] == mine
    assert describe(other, "alias/shared-name")["keyid"] == theirs
    # another app's alias is answered exactly like an unknown keyid
    for action, payload in (
        ("Encrypt", {"keyid": "alias/only-theirs", "plaintext": HELLO}),
        ("DescribeKey", {"keyid": "alias/only-theirs"}),
        ("DisableKey", {"keyid": "alias/only-theirs"}),
        ("DeleteKey", {"keyid": "alias/only-theirs"}),
        ("CreateAlias", {"alias": "alias/steal", "keyid": "alias/only-theirs"}),
        ("CreateAlias", {"alias": "alias/steal", "keyid": theirs}),
    ):
        assert fails(manual_client, action, payload) == KEYID_ERROR, action
    assert fails(manual_client, "DeleteAlias", {"alias": "alias/only-theirs"}) == "alias error"
    assert fails(manual_client, "UpdateAlias", {"alias": "alias/only-theirs", "keyid": mine}) == "alias error"
    assert [x["alias"] for x in ok(manual_client, "ListAliases")["list"]] == ["alias/shared-name"]
    assert describe(other, "alias/only-theirs")["state"] == "Enabled"


def test_deleting_a_key_deletes_its_aliases_and_tags(manual_client: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    ok(c, "CreateAlias", {"alias": "alias/gone", "keyid": keyid})
    ok(c, "TagKey", {"keyid": keyid, "tags": {"a": "b"}})
    ok(c, "DeleteKey", {"keyid": "alias/gone"})  # DeleteKey by alias: immediate, as ever
    assert ok(c, "ListAliases")["list"] == []
    assert fails(c, "ListKeyTags", {"keyid": keyid}) == KEYID_ERROR
    again = c.create_key("EH_AES_GCM_256")
    ok(c, "CreateAlias", {"alias": "alias/gone", "keyid": again})  # the name is free again


ALIAS = "alias/under-test"


def _payloads(c: Client, srv: InProcessServer) -> dict[str, tuple[str, dict[str, Any], str]]:
    """Action -> (keyspec to create, payload naming the key by ALIAS, expected check)."""
    return {
        "Encrypt": ("EH_AES_GCM_256", {"keyid": ALIAS, "plaintext": HELLO}, "ciphertext"),
        "GenerateDataKey": ("EH_SM4_CBC", {"keyid": ALIAS, "keylen": 32}, "ciphertext"),
        "GenerateDataKeyWithoutPlaintext": ("EH_AES_GCM_128", {"keyid": ALIAS, "keylen": 16}, "ciphertext"),
        "GetPublicKey": ("EH_EC_P256", {"keyid": ALIAS}, "pubkey"),
        "Sign": ("EH_EC_P256", {"keyid": ALIAS, "message": HELLO, "message_type": "EH_RAW"}, "signature"),
        "AsymmetricEncrypt": (
            "EH_RSA_2048",
            {"keyid": ALIAS, "plaintext": HELLO, "padding_mode": "EH_RSA_PKCS1_OAEP"},
            "ciphertext",
        ),
        "DescribeKey": ("EH_AES_GCM_256", {"keyid": ALIAS}, "keyid"),
        "ListKeyTags": ("EH_AES_GCM_256", {"keyid": ALIAS}, "tags"),
        "GetParametersForImport": ("external", {"keyid": ALIAS, "keyspec": "EH_RSA_3072"}, "importToken"),
    }


@pytest.mark.parametrize(
    "action",
    [
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GetPublicKey",
        "Sign",
        "AsymmetricEncrypt",
        "DescribeKey",
        "ListKeyTags",
        "GetParametersForImport",
    ],
)
def test_every_keyid_field_accepts_an_alias(manual_client: Client, manual_server: InProcessServer, action: str) -> None:
    c = manual_client
    spec, payload, field = _payloads(c, manual_server)[action]
    keyid = c.create_key("EH_AES_GCM_256", "EH_EXTERNAL_KEY") if spec == "external" else c.create_key(spec)
    ok(c, "CreateAlias", {"alias": ALIAS, "keyid": keyid})
    assert field in ok(c, action, payload)


def test_decrypt_verify_and_state_changes_by_alias(manual_client: Client) -> None:
    c = manual_client
    aes, ec = c.create_key("EH_AES_GCM_256"), c.create_key("EH_EC_P256")
    ok(c, "CreateAlias", {"alias": "alias/aes", "keyid": aes})
    ok(c, "CreateAlias", {"alias": "alias/ec", "keyid": ec})
    assert c.decrypt("alias/aes", c.encrypt(aes, b"m")) == b"m"
    sig = ok(c, "Sign", {"keyid": ec, "message": HELLO, "message_type": "EH_RAW"})["signature"]
    verified = ok(c, "Verify", {"keyid": "alias/ec", "message": HELLO, "message_type": "EH_RAW", "signature": sig})
    assert verified["result"] is True
    ok(c, "DisableKey", {"keyid": "alias/aes"})
    assert describe(c, aes)["state"] == "Disabled"
    assert fails(c, "Encrypt", {"keyid": "alias/aes", "plaintext": HELLO}) == "keyid is disabled"
    ok(c, "EnableKey", {"keyid": "alias/aes"})
    assert describe(c, aes)["state"] == "Enabled"


# -- tags -------------------------------------------------------------------------------------------------
def test_tag_untag_list(manual_client: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    assert ok(c, "ListKeyTags", {"keyid": keyid}) == {"tags": {}}
    ok(c, "TagKey", {"keyid": keyid, "tags": {"env": "prod", "cost-center": "42", "empty": ""}})
    ok(c, "TagKey", {"keyid": keyid, "tags": {"env": "dev"}})  # overwrites
    assert ok(c, "ListKeyTags", {"keyid": keyid}) == {"tags": {"cost-center": "42", "empty": "", "env": "dev"}}
    ok(c, "UntagKey", {"keyid": keyid, "tagKeys": ["env", "absent"]})
    assert ok(c, "ListKeyTags", {"keyid": keyid}) == {"tags": {"cost-center": "42", "empty": ""}}


def test_tag_limits_and_errors(manual_client: Client, other: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    theirs = other.create_key("EH_AES_GCM_256")
    ok(c, "TagKey", {"keyid": keyid, "tags": {f"k{i}": "v" for i in range(50)}})  # 50: the limit
    assert fails(c, "TagKey", {"keyid": keyid, "tags": {"one-more": "v"}}) == (
        "Parameter invalid, A key can have at most 50 tags."
    )
    ok(c, "TagKey", {"keyid": keyid, "tags": {"k0": "overwrite"}})  # still 50
    assert (
        fails(c, "TagKey", {"keyid": keyid, "tags": {f"x{i}": "v" for i in range(51)}})
        == "Parameter invalid, The tags length error."
    )
    assert fails(c, "TagKey", {"keyid": keyid, "tags": {"k" * 129: "v"}}) == "Parameter invalid, The tags length error."
    assert (
        fails(c, "TagKey", {"keyid": keyid, "tags": {"k0": "v" * 257}}) == "Parameter invalid, The tags length error."
    )
    assert fails(c, "TagKey", {"keyid": keyid, "tags": {}}) == "Missing required parameters, The tags cannot be empty."
    assert fails(c, "TagKey", {"keyid": keyid}) == "Missing required parameters, The tags cannot be empty."
    assert fails(c, "TagKey", {"keyid": keyid, "tags": ["a"]}) == "Parameter invalid, The tags format wrong."
    assert (
        fails(c, "TagKey", {"keyid": keyid, "tags": {"k0": "\x01"}})
        == "Parameter invalid, The tags must not contain control characters."
    )
    assert fails(c, "UntagKey", {"keyid": keyid, "tagKeys": []}) == (
        "Missing required parameters, The tagKeys cannot be empty."
    )
    # another app's key: not found, and its tags untouched
    ok(other, "TagKey", {"keyid": theirs, "tags": {"owner": "them"}})
    assert fails(c, "TagKey", {"keyid": theirs, "tags": {"owner": "me"}}) == KEYID_ERROR
    assert fails(c, "UntagKey", {"keyid": theirs, "tagKeys": ["owner"]}) == KEYID_ERROR
    assert fails(c, "ListKeyTags", {"keyid": theirs}) == KEYID_ERROR
    assert ok(other, "ListKeyTags", {"keyid": theirs}) == {"tags": {"owner": "them"}}
    tags = ok(c, "ListKeyTags", {"keyid": keyid})["tags"]
    assert len(tags) == 50 and tags["k0"] == "overwrite"


# -- scheduled deletion ------------------------------------------------------------------------------------
def test_scheduled_deletion_refuses_use_and_the_job_deletes_it_when_due(
    manual_client: Client, manual_server: InProcessServer, clock: ManualClock
) -> None:
    c = manual_client
    keyid, kept = c.create_key("EH_AES_GCM_256"), c.create_key("EH_AES_GCM_256")
    ct = c.encrypt(keyid, b"data")
    ok(c, "CreateAlias", {"alias": "alias/doomed", "keyid": keyid})
    scheduled = ok(c, "ScheduleKeyDeletion", {"keyid": "alias/doomed", "pendingWindowInDays": 7})
    due = clock.now_ms() + 7 * DAY_MS
    assert scheduled == {"keyid": "alias/doomed", "state": "PendingDeletion", "deletionDate": due}
    for action, payload in (
        ("Encrypt", {"keyid": keyid, "plaintext": HELLO}),
        ("Decrypt", {"keyid": keyid, "ciphertext": base64.b64encode(ct).decode()}),
        ("GenerateDataKey", {"keyid": "alias/doomed", "keylen": 16}),
        ("EnableKey", {"keyid": keyid}),
        ("DisableKey", {"keyid": keyid}),
        ("ScheduleKeyDeletion", {"keyid": keyid}),
    ):
        assert fails(c, action, payload) == PENDING, action
    listed = {k["keyid"]: k for k in c.list_keys()}
    assert (listed[keyid]["state"], listed[keyid]["keyState"], listed[keyid]["deletionDate"]) == (
        "PendingDeletion",
        0,
        due,
    )
    assert "deletionDate" not in listed[kept]
    assert describe(c, keyid)["deletionDate"] == due
    clock.advance(ms=7 * DAY_MS - 1)
    assert purge(manual_server) == 0
    assert describe(c, keyid)["state"] == "PendingDeletion"
    clock.advance(ms=1)
    assert purge(manual_server) == 1
    assert purge(manual_server) == 0
    assert fails(c, "DescribeKey", {"keyid": keyid}) == KEYID_ERROR
    assert ok(c, "ListAliases")["list"] == []
    assert [k["keyid"] for k in c.list_keys()] == [kept]


def test_cancel_key_deletion_returns_the_key_disabled(manual_client: Client, clock: ManualClock) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    scheduled = ok(c, "ScheduleKeyDeletion", {"keyid": keyid})  # 30 days by default
    assert scheduled["deletionDate"] == clock.now_ms() + 30 * DAY_MS
    assert ok(c, "CancelKeyDeletion", {"keyid": keyid}) == {"keyid": keyid, "state": "Disabled"}
    d = describe(c, keyid)
    assert (d["state"], d["deletionDate"]) == ("Disabled", None)
    assert fails(c, "Encrypt", {"keyid": keyid, "plaintext": HELLO}) == "keyid is disabled"
    ok(c, "EnableKey", {"keyid": keyid})
    assert c.decrypt(keyid, c.encrypt(keyid, b"back")) == b"back"
    external = c.create_key("EH_AES_GCM_256", "EH_EXTERNAL_KEY")
    ok(c, "ScheduleKeyDeletion", {"keyid": external})
    assert ok(c, "CancelKeyDeletion", {"keyid": external})["state"] == "PendingImport"


def test_scheduled_deletion_errors(manual_client: Client, other: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    theirs = other.create_key("EH_AES_GCM_256")
    for days, message in (
        (6, "Parameter invalid, The pendingWindowInDays value must be greater than or equal to 7."),
        (31, "Parameter invalid, The pendingWindowInDays value must be less than or equal to 30."),
        ("7", "Parameter invalid, The pendingWindowInDays must be of integer type."),
    ):
        assert fails(c, "ScheduleKeyDeletion", {"keyid": keyid, "pendingWindowInDays": days}) == message
    assert fails(c, "ScheduleKeyDeletion", {"keyid": theirs}) == KEYID_ERROR
    assert fails(c, "CancelKeyDeletion", {"keyid": theirs}) == KEYID_ERROR
    assert fails(c, "CancelKeyDeletion", {"keyid": keyid}) == "The key is not pending deletion."
    assert describe(c, keyid)["state"] == "Enabled" and describe(other, theirs)["state"] == "Enabled"
    ok(other, "ScheduleKeyDeletion", {"keyid": theirs})
    assert fails(c, "CancelKeyDeletion", {"keyid": theirs}) == KEYID_ERROR
    assert describe(other, theirs)["state"] == "PendingDeletion"


def test_delete_key_stays_immediate_for_a_key_pending_deletion(manual_client: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    ok(c, "ScheduleKeyDeletion", {"keyid": keyid})
    ok(c, "DeleteKey", {"keyid": keyid})
    assert fails(c, "DescribeKey", {"keyid": keyid}) == KEYID_ERROR


# -- paging -----------------------------------------------------------------------------------------------
def test_list_key_pages(manual_client: Client, clock: ManualClock) -> None:
    c = manual_client
    created = []
    for i in range(5):
        created.append(c.create_key("EH_AES_GCM_256"))
        if i % 2:
            clock.advance(ms=1)  # some keys share a creation time: the keyid breaks the tie
    everything = [k["keyid"] for k in ok(c, "ListKey")["list"]]
    assert sorted(everything) == sorted(created)
    seen, marker, pages = [], None, 0
    while True:
        page = ok(c, "ListKey", {"limit": 2, **({"marker": marker} if marker else {})})
        pages += 1
        seen += [k["keyid"] for k in page["list"]]
        if not page["truncated"]:
            assert "nextMarker" not in page
            break
        marker = page["nextMarker"]
    assert seen == everything and pages == 3
    assert ok(c, "ListKey", {"limit": 1000}) == {"list": ok(c, "ListKey")["list"], "truncated": False}
    assert fails(c, "ListKey", {"limit": 1001}) == (
        "Parameter invalid, The limit value must be less than or equal to 1000."
    )
    for bogus in ("not-a-marker", "\u00b2.k", "\u0663.k"):  # superscript / Arabic-Indic digits: str.isdigit()
        assert fails(c, "ListKey", {"marker": bogus}) == (
            "Parameter invalid, The marker is not a marker this listing returned."
        )


def test_list_aliases_pages(manual_client: Client) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    names = [f"alias/n{i}" for i in range(5)]
    for name in names:
        ok(c, "CreateAlias", {"alias": name, "keyid": keyid})
    first = ok(c, "ListAliases", {"limit": 3})
    assert [x["alias"] for x in first["list"]] == names[:3] and first["nextMarker"] == names[2]
    rest = ok(c, "ListAliases", {"limit": 3, "marker": first["nextMarker"]})
    assert [x["alias"] for x in rest["list"]] == names[3:] and rest["truncated"] is False


# -- the SDK (sync and async clients share client/api.py) -----------------------------------------------
def test_sdk_key_metadata_methods(manual_client: Client, clock: ManualClock) -> None:
    c = manual_client
    keyid = c.create_key("EH_AES_GCM_256")
    c.create_alias("alias/sdk", keyid)
    c.update_key_description("alias/sdk", "described")
    c.tag_key("alias/sdk", {"env": "test", "drop": "me"})
    c.untag_key(keyid, ["drop"])
    assert c.list_key_tags(keyid) == {"env": "test"}
    d = c.describe_key("alias/sdk")
    assert (d.keyid, d.description, d.aliases, d.tags, d.state) == (
        keyid,
        "described",
        ["alias/sdk"],
        {"env": "test"},
        "Enabled",
    )
    other = c.create_key("EH_AES_GCM_256")
    c.update_alias("alias/sdk", other)
    page = c.list_aliases(limit=1)
    assert [(a.alias, a.keyid) for a in page.aliases] == [("alias/sdk", other)] and page.next_marker is None
    c.delete_alias("alias/sdk")
    assert c.list_aliases().aliases == []
    assert c.schedule_key_deletion(keyid, 7) == clock.now_ms() + 7 * DAY_MS
    info = next(k for k in c.list_key() if k.keyid == keyid)
    assert (info.state, info.deletion_date) == ("PendingDeletion", clock.now_ms() + 7 * DAY_MS)
    assert c.cancel_key_deletion(keyid) == "Disabled"
    first = c.list_key_page(1)
    second = c.list_key_page(1, first.next_marker)
    assert [k.keyid for k in first.entries + second.entries] == [k.keyid for k in c.list_key()]
    assert first.next_marker is not None and second.next_marker is None


async def test_async_sdk_key_metadata_methods(manual_server: InProcessServer, clock: ManualClock) -> None:
    from pyehsm.client import AsyncClient

    async with await AsyncClient.enroll(manual_server.base, clock=clock) as c:
        keyid = await c.create_key("EH_AES_GCM_256")
        await c.create_alias("alias/async", keyid)
        await c.tag_key("alias/async", {"k": "v"})
        d = await c.describe_key("alias/async")
        assert (d.keyid, d.tags) == (keyid, {"k": "v"})
        assert [a.alias for a in (await c.list_aliases(keyid)).aliases] == ["alias/async"]
        await c.schedule_key_deletion("alias/async")
        assert (await c.describe_key(keyid)).state == "PendingDeletion"
        assert await c.cancel_key_deletion(keyid) == "Disabled"


def test_a_secret_created_through_an_alias_keeps_its_key_when_the_alias_moves(manual_client: Client) -> None:
    c = manual_client
    first, second = c.create_key("EH_AES_GCM_256"), c.create_key("EH_AES_GCM_256")
    ok(c, "CreateAlias", {"alias": "alias/secrets", "keyid": first})
    ok(c, "CreateSecret", {"secretName": "s", "secretData": "v1", "encryptionKeyId": "alias/secrets"})
    ok(c, "UpdateAlias", {"alias": "alias/secrets", "keyid": second})
    assert ok(c, "GetSecretValue", {"secretName": "s"})["secretData"] == "v1"
    assert fails(c, "CreateSecret", {"secretName": "t", "secretData": "v", "encryptionKeyId": "alias/none"}) == (
        KEYID_ERROR
    )


def test_export_data_key_and_asymmetric_decrypt_by_alias(manual_client: Client) -> None:
    c = manual_client
    aes, rsa = c.create_key("EH_AES_GCM_256"), c.create_key("EH_RSA_2048")
    ok(c, "CreateAlias", {"alias": "alias/wrap", "keyid": aes})
    ok(c, "CreateAlias", {"alias": "alias/rsa", "keyid": rsa})
    data_key, wrapped = c.generate_data_key("alias/wrap", 32)
    exported = c.export_data_key("alias/wrap", "alias/rsa", wrapped)
    assert c.asymmetric_decrypt("alias/rsa", exported) == data_key
