"""Server-side commands under `-o json`: enroll, migrate, backup, export, import and restore print one JSON
object on stdout, and their errors one JSON object on stderr with exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from pyehsm.cli import main


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"PYEHSM_DATA_DIR": None, "PYEHSM_STORE": None})


def ok(*args: str) -> dict[str, object]:
    result = cli(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    value = json.loads(result.stdout)
    assert isinstance(value, dict) and value["result"] == "ok"
    return value


def test_server_commands_print_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    enrolled = ok("enroll", "--data-dir", str(data))
    assert set(enrolled) == {"result", "appid", "apikey"}
    assert ok("migrate", "--data-dir", str(data)) == {"result": "ok"}
    backup = ok("backup", str(tmp_path / "snap.db"), "--data-dir", str(data))
    assert (backup["apps"], backup["file"]) == (1, str(tmp_path / "snap.db"))
    exported = ok("export", str(tmp_path / "dump.jsonl"), "--data-dir", str(data))
    assert isinstance(exported["rows"], dict) and exported["rows"]["apps"] == 1
    imported = ok(
        "import",
        str(tmp_path / "dump.jsonl"),
        "--data-dir",
        str(tmp_path / "copy"),
        "--root-key",
        f"file:{data / 'root.key'}",
    )
    assert imported["rows"] == exported["rows"] and isinstance(imported["verified"], dict)
    restored = ok("restore", str(tmp_path / "snap.db"), "--data-dir", str(tmp_path / "restored"))
    assert restored["apps"] == 1


def test_server_command_errors_are_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli("enroll", "--data-dir", str(data)).exit_code == 0
    (tmp_path / "exists").write_bytes(b"")
    for args in (
        ("backup", str(tmp_path / "exists"), "--data-dir", str(data)),
        ("backup", str(tmp_path / "new.db"), "--data-dir", str(tmp_path / "empty")),
        ("export", str(tmp_path / "exists"), "--data-dir", str(data)),
    ):
        result = cli(*args, "-o", "json")
        assert result.exit_code == 1 and result.stdout == "", args
        assert json.loads(result.stderr)["error"]["message"], args
    text = cli("backup", str(tmp_path / "exists"), "--data-dir", str(data))
    assert text.exit_code == 1 and text.stderr.startswith("pyehsm: ")
