"""Root-key providers end to end (file, passphrase, PKCS#11 on a real SoftHSM2 token) and O(1) root rotation.

Servers are real HTTP servers (in-process uvicorn, plus `pyehsm serve` subprocesses where the process
boundary matters); commands run through the real click CLI. SoftHSM2 tokens live in a temporary
SOFTHSM2_CONF directory created by the fixture (never the system token directory).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyehsm.app import prepare
from pyehsm.cli import main
from pyehsm.client import Client
from pyehsm.config import Settings
from pyehsm.errors import StartupError
from tests.support.server import InProcessServer, free_port

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
USER_PIN = "246810"
SO_PIN = "13579111"
CHEAP_ARGON2 = "t=1;m=1024;p=1"  # production defaults are t=3, m=64 MiB, p=4; tests pass cheaper costs
SMALL_POOL = {"EH_EC_P256": 1}


def pkcs11_spec(token: str, key: str, extra: str = "") -> str:
    return f"pkcs11:module={SOFTHSM_MODULE};token={token};key={key}{extra}"


def cli(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """The real `pyehsm` command, in-process (stdin is not a terminal)."""
    return CliRunner().invoke(main, list(args), env=env)


@contextmanager
def serving(data_dir: Path, root_key: str = "") -> Iterator[InProcessServer]:
    server = InProcessServer(Settings(data_dir=data_dir, root_key=root_key, pool_depth=dict(SMALL_POOL))).start()
    try:
        yield server
    finally:
        server.stop()


def refusal(data_dir: Path, root_key: str = "") -> str:
    """The StartupError `pyehsm serve` would print (it runs prepare() before starting workers)."""
    with pytest.raises(StartupError) as caught:
        asyncio.run(prepare(Settings(data_dir=data_dir, root_key=root_key)))
    return str(caught.value)


def serve_refused(data_dir: Path, *args: str, env: dict[str, str]) -> str:
    """A real `pyehsm serve` process that must refuse to start: exit 1, one clear line, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "pyehsm", "serve", "--port", str(free_port()), "--data-dir", str(data_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def meta_rows(data_dir: Path) -> dict[str, bytes]:
    with sqlite3.connect(data_dir / "pyehsm.db") as conn:
        return {name: bytes(value) for name, value in conn.execute("SELECT name, value FROM meta")}


def wrapped_materials(data_dir: Path) -> dict[tuple[str, int], bytes]:
    with sqlite3.connect(data_dir / "pyehsm.db") as conn:
        rows = conn.execute("SELECT keyid, version, wrapped_material FROM key_versions").fetchall()
    return {(keyid, version): bytes(blob) for keyid, version, blob in rows}


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two fresh SoftHSM2 tokens in a private token directory, and the env pointing at them.

    The env is also set in this process: the PKCS#11 library reads SOFTHSM2_CONF when it is first loaded.
    """
    if not Path(SOFTHSM_MODULE).exists():
        pytest.fail(f"SoftHSM2 is not installed ({SOFTHSM_MODULE}); scripts/test.sh installs the softhsm2 package")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf), "PYEHSM_PKCS11_PIN": USER_PIN}
    for label in ("pyehsm-a", "pyehsm-b"):
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", USER_PIN],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        yield env


class Workload:
    """Keys of several kinds with a ciphertext, a signature and a secret to check after every restart."""

    def __init__(self, server: InProcessServer) -> None:
        with Client.enroll(server.base) as client:
            self.appid, self.apikey = client.appid, client.apikey
            self.aes = client.create_key("EH_AES_GCM_256")
            self.sm4 = client.create_key("EH_SM4_CBC")
            self.ec = client.create_key("EH_EC_P256")
            self.ciphertexts = {self.aes: client.encrypt(self.aes, b"aes"), self.sm4: client.encrypt(self.sm4, b"sm4")}
            self.signature = client.sign(self.ec, b"signed message", "EH_SHA_256")
            client.create_secret("workload-secret", "s3cr3t value")

    def check(self, server: InProcessServer) -> None:
        with Client(server.base, self.appid, self.apikey) as c:
            assert c.decrypt(self.aes, self.ciphertexts[self.aes]) == b"aes"
            assert c.decrypt(self.sm4, self.ciphertexts[self.sm4]) == b"sm4"
            assert c.verify(self.ec, b"signed message", self.signature, "EH_SHA_256") is True
            assert c.get_secret_value("workload-secret").secret_data == "s3cr3t value"
            fresh = c.create_key("EH_AES_GCM_128")
            assert c.decrypt(fresh, c.encrypt(fresh, b"new")) == b"new"


# -- file --------------------------------------------------------------------------------------------
def test_file_provider_end_to_end_and_a_missing_or_wrong_key_file_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data) as server:
        work = Workload(server)
    assert meta_rows(data)["root.kind"] == b"file"
    with serving(data) as server:
        work.check(server)

    key_file = data / "root.key"
    original = key_file.read_bytes()
    key_file.unlink()  # an existing store never gets a fresh root key file
    assert "does not exist" in refusal(data)
    assert not key_file.exists()
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    assert "does not unwrap this store's domain key" in refusal(data)
    key_file.write_bytes(original)
    key_file.chmod(0o644)
    assert "chmod 600" in refusal(data)
    key_file.chmod(0o600)
    with serving(data) as server:
        work.check(server)


# -- passphrase --------------------------------------------------------------------------------------
def test_passphrase_provider_end_to_end_wrong_or_missing_passphrase_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    passphrase = "correct horse battery staple"
    monkeypatch.setenv("PYEHSM_PASSPHRASE", passphrase)
    with serving(data, f"passphrase:{CHEAP_ARGON2}") as server:
        work = Workload(server)

    meta = meta_rows(data)
    assert meta["root.kind"] == b"passphrase"
    params = json.loads(meta["root.params"])
    assert params["kdf"] == "argon2id" and (params["t"], params["m"], params["p"]) == (1, 1024, 1)
    assert len(params["salt"]) >= 22  # 16 random bytes, base64
    assert not (data / "root.key").exists()
    assert passphrase.encode() not in (data / "pyehsm.db").read_bytes()

    # A real `pyehsm serve` refuses a wrong passphrase with one clear line and changes nothing.
    message = serve_refused(data, "--root-key", "passphrase", env={"PYEHSM_PASSPHRASE": "wrong horse battery staple"})
    assert message.startswith("pyehsm: wrong passphrase") and "nothing was changed" in message
    assert meta_rows(data) == meta
    monkeypatch.delenv("PYEHSM_PASSPHRASE")
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a terminal, also under `pytest -s`
    assert "set PYEHSM_PASSPHRASE or run on a terminal" in refusal(data, "passphrase")
    monkeypatch.setenv("PYEHSM_PASSPHRASE", "short")
    assert "at least 8 characters" in refusal(data, "passphrase")
    monkeypatch.setenv("PYEHSM_PASSPHRASE", passphrase)
    assert meta_rows(data) == meta

    # The stored salt and costs win over whatever the spec says on later starts.
    with serving(data, "passphrase:t=2;m=2048;p=2") as server:
        work.check(server)
    assert meta_rows(data)["root.params"] == meta["root.params"]


def test_a_start_with_another_provider_kind_names_the_stores_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    asyncio.run(prepare(Settings(data_dir=data)))
    monkeypatch.setenv("PYEHSM_PASSPHRASE", "correct horse battery staple")
    message = refusal(data, "passphrase")
    assert "wrapped by a 'file' root key" in message and "'passphrase' provider" in message
    assert "unknown root key provider 'vault:x'" in refusal(data, "vault:x")
    assert "unknown option" in refusal(data, "passphrase:salt=abc")
    assert "m (Argon2 memory, KiB)" in refusal(data, "passphrase:m=4")


# -- PKCS#11 -----------------------------------------------------------------------------------------
def test_pkcs11_provider_end_to_end_and_clear_refusals(tmp_path: Path, softhsm: dict[str, str]) -> None:
    spec = pkcs11_spec("pyehsm-a", "root")
    created = cli("root-key", "generate", spec)
    assert created.exit_code == 0, created.output
    again = cli("root-key", "generate", spec)
    assert again.exit_code == 1 and "already holds a key labelled 'root'" in again.output

    data = tmp_path / "data"
    with serving(data, spec) as server:
        work = Workload(server)
    meta = meta_rows(data)
    assert meta["root.kind"] == b"pkcs11"
    assert json.loads(meta["root.params"]) == {"mechanism": "gcm"}  # SoftHSM2 offers CKM_AES_GCM
    assert meta["dk.1"][:1] == b"\x01" and not (data / "root.key").exists()
    with serving(data, spec) as server:
        work.check(server)

    message = serve_refused(data, "--root-key", spec, env={**softhsm, "PYEHSM_PKCS11_PIN": "999999"})
    assert message.startswith("pyehsm: PKCS#11 login to token 'pyehsm-a' failed: wrong PIN")
    assert "no PKCS#11 token labelled 'absent'" in refusal(data, pkcs11_spec("absent", "root"))
    message = refusal(data, pkcs11_spec("pyehsm-a", "missing"))
    assert "no AES key labelled 'missing'" in message and "pyehsm root-key generate" in message
    assert "PIN is never accepted in the spec" in refusal(data, spec + ";pin=246810")
    assert "does not exist" in refusal(data, pkcs11_spec("pyehsm-a", "root", ";module=/nonexistent/p11.so"))
    assert meta_rows(data) == meta

    pin_file = tmp_path / "pin"
    pin_file.write_text(USER_PIN + "\n")
    pin_file.chmod(0o644)
    with_file = spec + f";pin-file={pin_file}"
    assert "chmod 600" in refusal(data, with_file)
    pin_file.chmod(0o600)
    with serving(data, with_file) as server:
        work.check(server)


# -- root rotation -----------------------------------------------------------------------------------
def test_root_rotation_file_to_pkcs11_to_passphrase_to_file_needs_no_old_root(
    tmp_path: Path, softhsm: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    with serving(data) as server:
        work = Workload(server)
    materials = wrapped_materials(data)
    old_dk = meta_rows(data)["dk.1"]

    # file -> pkcs11 (AES key wrap with padding inside the token), then the key file is deleted.
    token_spec = pkcs11_spec("pyehsm-b", "root2")
    assert cli("root-key", "generate", token_spec).exit_code == 0
    rotated = cli("root-key", "rotate", "--to", token_spec + ";mechanism=kwp", "--data-dir", str(data))
    assert rotated.exit_code == 0, rotated.output
    assert "re-wrapped 1 domain key(s)" in rotated.output
    (data / "root.key").unlink()
    meta = meta_rows(data)
    assert meta["root.kind"] == b"pkcs11" and json.loads(meta["root.params"]) == {"mechanism": "kwp"}
    assert meta["dk.1"] != old_dk and meta["dk.1"][:1] == b"\x02"
    assert wrapped_materials(data) == materials  # O(1): only the domain key was re-wrapped
    assert "wrapped by a 'pkcs11' root key" in refusal(data)
    with serving(data, token_spec) as server:
        work.check(server)

    # pkcs11 -> passphrase; then the token, with its key, is deleted.
    monkeypatch.setenv("PYEHSM_NEW_PASSPHRASE", "a much better passphrase")
    target = f"passphrase:env=PYEHSM_NEW_PASSPHRASE;{CHEAP_ARGON2}"
    rotated = cli("root-key", "rotate", "--to", target, "--data-dir", str(data), "--root-key", token_spec)
    assert rotated.exit_code == 0, rotated.output
    subprocess.run(["softhsm2-util", "--delete-token", "--token", "pyehsm-b"], check=True, capture_output=True)
    with serving(data, "passphrase:env=PYEHSM_NEW_PASSPHRASE") as server:
        work.check(server)

    # passphrase -> file at a new path; the passphrase is not needed any more.
    new_file = tmp_path / "keys" / "new-root.key"
    rotated = cli("root-key", "rotate", "--to", f"file:{new_file}", "--data-dir", str(data),
                  "--root-key", "passphrase:env=PYEHSM_NEW_PASSPHRASE")  # fmt: skip
    assert rotated.exit_code == 0, rotated.output
    assert (new_file.stat().st_mode & 0o777) == 0o600
    monkeypatch.delenv("PYEHSM_NEW_PASSPHRASE")
    with serving(data, f"file:{new_file}") as server:
        work.check(server)
    assert wrapped_materials(data).items() >= materials.items()


def test_root_rotation_refuses_a_wrong_old_key_and_an_ambiguous_passphrase(tmp_path: Path) -> None:
    data = tmp_path / "data"
    asyncio.run(prepare(Settings(data_dir=data)))
    before = meta_rows(data)
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    other.chmod(0o600)
    wrong = cli("root-key", "rotate", "--to", f"file:{tmp_path / 'n.key'}", "--data-dir", str(data),
                "--root-key", f"file:{other}")  # fmt: skip
    assert wrong.exit_code == 1 and "does not unwrap this store's domain key" in wrong.output
    same_env = cli("root-key", "rotate", "--to", "passphrase", "--data-dir", str(data), "--root-key", "passphrase",
                   env={"PYEHSM_PASSPHRASE": "correct horse battery staple"})  # fmt: skip
    assert same_env.exit_code == 1 and "another variable" in same_env.output
    empty = cli("root-key", "rotate", "--to", f"file:{tmp_path / 'n.key'}", "--data-dir", str(tmp_path / "empty"))
    assert empty.exit_code == 1 and "no pyehsm store with a domain key" in empty.output
    assert meta_rows(data) == before
