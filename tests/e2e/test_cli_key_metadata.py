"""`pyehsm key describe|set-description|tag|untag|tags|schedule-deletion|cancel-deletion` and `pyehsm alias ...`
against a real server (docs/key-metadata.md)."""

from __future__ import annotations

import json

from pyehsm.client import Client
from tests.e2e.test_cli import cli_env, run


def test_key_metadata_commands(client: Client) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    assert run(["alias", "create", "alias/cli", keyid], env).stdout.strip() == f"alias/cli -> {keyid}"
    assert run(["key", "set-description", "alias/cli", "from the CLI"], env).exit_code == 0
    assert run(["key", "tag", "alias/cli", "env=prod", "team=a=b", "gone=x"], env).exit_code == 0
    assert run(["key", "untag", keyid, "gone"], env).exit_code == 0
    assert json.loads(run(["key", "tags", keyid, "-o", "json"], env).stdout) == {"env": "prod", "team": "a=b"}
    described = json.loads(run(["key", "describe", "alias/cli", "-o", "json"], env).stdout)
    assert (described["keyid"], described["description"], described["aliases"]) == (
        keyid,
        "from the CLI",
        ["alias/cli"],
    )
    table = run(["key", "describe", keyid], env).stdout
    assert "from the CLI" in table and "env=prod" in table
    bad = run(["key", "tag", keyid, "novalue"], env)
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    other = client.create_key("EH_AES_GCM_256")
    assert run(["alias", "update", "alias/cli", other], env).exit_code == 0
    listed = json.loads(run(["alias", "list", "-o", "json"], env).stdout)
    assert [(a["alias"], a["keyid"]) for a in listed] == [("alias/cli", other)]
    assert run(["alias", "list"], env).stdout.splitlines()[0].split() == ["ALIAS", "KEYID", "CREATED"]
    assert run(["alias", "delete", "alias/cli"], env).stdout.strip() == "deleted alias/cli"
    scheduled = json.loads(run(["key", "schedule-deletion", keyid, "--days", "7", "-o", "json"], env).stdout)
    assert scheduled["deletionDate"] == client.describe_key(keyid).deletion_date
    assert client.describe_key(keyid).state == "PendingDeletion"
    assert run(["key", "schedule-deletion", keyid, "--days", "6"], env).exit_code == 2
    cancelled = run(["key", "cancel-deletion", keyid], env)
    assert cancelled.stdout.strip() == f"deletion of {keyid} cancelled; the key is Disabled"
    refused = run(["key", "cancel-deletion", keyid], env)
    assert refused.exit_code == 1 and "not pending deletion" in refused.output
