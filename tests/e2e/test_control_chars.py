"""Issue 18 item 3: control characters in identifiers and descriptions are refused at validation time,
identically on SQLite and PostgreSQL (where U+0000 in a text value used to fail inside the driver and
answer code 500 with a traceback in the log per request). Secret data is encrypted and may hold anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from pyehsm.client import Client
from tests.support.postgres import fresh_database
from tests.support.server import NO_POOL_ARGS, ServerProcess

HTTP = httpx.Client(timeout=30)


def control(field: str) -> str:
    return f"Parameter invalid, The {field} must not contain control characters."


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp(f"control-{request.param}") / "data"
    if request.param == "sqlite":
        proc = ServerProcess(data, *NO_POOL_ARGS).start()
        try:
            yield proc
        finally:
            proc.stop()
        return
    with fresh_database() as url:
        proc = ServerProcess(data, "--store", url, *NO_POOL_ARGS).start()
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture
def app(node: ServerProcess) -> Iterator[Client]:
    with node.client() as c:
        yield c


def assert_clean_log(node: ServerProcess) -> None:
    log = node.log()
    assert "Traceback" not in log and "internal error" not in log


@pytest.mark.parametrize("appid", ["\x00", "a\x00b", "\x01", "app\n", "\x7f"])
def test_appid_refused_before_authentication(node: ServerProcess, appid: str) -> None:
    body = {"appid": appid, "timestamp": "1700000000000", "sign": "x"}
    resp = HTTP.post(f"{node.base}?Action=ListKey", content=json.dumps(body).encode())
    assert resp.status_code == 200
    assert resp.json() == {"code": 400, "message": control("appid"), "result": {}}
    assert_clean_log(node)


@pytest.mark.parametrize("bad", ["\x00", "a\x00", "a\nb", "\t", "\x1f", "\x7f"])
def test_identifiers_refused(node: ServerProcess, app: Client, bad: str) -> None:
    cases = [
        ("Encrypt", {"keyid": bad, "plaintext": "SGk="}, "keyid"),
        ("DeleteKey", {"keyid": bad}, "keyid"),
        ("CreateSecret", {"secretName": "n", "secretData": "v", "encryptionKeyId": bad}, "encryptionKeyId"),
        ("GetQuotePolicy", {"policyId": bad}, "policyId"),
    ]
    for action, payload, field in cases:
        resp = app.request(action, payload)
        assert (resp.code, resp.message, resp.result) == (400, control(field), {}), action
    assert app.list_secrets().total_count == 0  # nothing was created
    assert_clean_log(node)


@pytest.mark.parametrize("bad", ["\x00", "a\x00", "\x00\t", "\x1f", "\x1b[31m", "\x7f"])
def test_secret_names_refused(node: ServerProcess, app: Client, bad: str) -> None:
    cases = [
        ("CreateSecret", {"secretName": bad, "secretData": "v"}),
        ("PutSecretValue", {"secretName": bad, "secretData": "v"}),
        ("GetSecretValue", {"secretName": bad}),
        ("DescribeSecret", {"secretName": bad}),
        ("ListSecrets", {"secretName": bad}),
    ]
    for action, payload in cases:
        resp = app.request(action, payload)
        assert (resp.code, resp.message, resp.result) == (400, control("secretName"), {}), action
    assert app.list_secrets().total_count == 0
    assert_clean_log(node)


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "\x07", "\x1b[31m", "\x7f"])
def test_descriptions_refused(node: ServerProcess, app: Client, bad: str) -> None:
    created = app.request("CreateSecret", {"secretName": "s", "secretData": "v", "description": bad})
    assert (created.code, created.message) == (400, control("description"))
    app.create_secret("s", "v")
    updated = app.request("UpdateSecretDesc", {"secretName": "s", "description": bad})
    assert (updated.code, updated.message) == (400, control("description"))
    assert app.describe_secret("s").description == ""
    assert_clean_log(node)


def test_what_stays_allowed(node: ServerProcess, app: Client) -> None:
    """Names and descriptions may hold tabs and newlines (docs/protocol.md: whitespace) and any printable
    text; secret data anything at all (it is stored encrypted)."""
    name = "db\tpassword é€ 😀 &=%+ \"'\n"
    description = "line one\n\tline two\r\n"
    data = "\x00\x01\n\x7f binary-ish \x00"
    app.create_secret(name, data, description=description)
    app.put_secret_value(name, data + "2")
    assert app.describe_secret(name).description == description
    assert app.get_secret_value(name, 1).secret_data == data
    assert app.get_secret_value(name).secret_data == data + "2"
    assert [s.secret_name for s in app.list_secrets(name).secrets] == [name]
    assert_clean_log(node)
