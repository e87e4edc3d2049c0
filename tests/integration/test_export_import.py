"""`pyehsm export` / `pyehsm import`: a SQLite node's data moves to PostgreSQL still wrapped, is verified
by unwrapping every wrapped value, and a PostgreSQL node then serves the same apps with the same keys."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pyehsm.client import Client
from tests.support.postgres import fresh_database
from tests.support.server import NO_POOL, ServerProcess


def pyehsm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyehsm", *args], capture_output=True, text=True, timeout=120, check=False
    )


@dataclass
class Source:
    data_dir: Path
    export: Path
    appid: str
    apikey: str
    ciphertexts: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # keyid -> plaintext, blob
    signature: tuple[str, bytes] = ("", b"")
    disabled: str = ""
    external: str = ""
    secret: tuple[str, str] = ("", "")
    import_pubkey: str = ""
    import_token: str = ""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """A SQLite node with a mix of keys (and states) and a secret, exported while it runs."""
    tmp = tmp_path_factory.mktemp("export")
    node = ServerProcess(tmp / "sqlite-data", env={"PYEHSM_POOL_DEPTH": NO_POOL}).start()
    try:
        with node.client() as client, node.client():  # a second app: several apps move
            src = Source(tmp / "sqlite-data", tmp / "dump.jsonl", client.appid, client.apikey)
            for spec in ("EH_AES_GCM_256", "EH_SM4_CBC", "EH_AES_GCM_128"):
                keyid = client.create_key(spec)
                src.ciphertexts[keyid] = (spec.encode(), client.encrypt(keyid, spec.encode(), aad=b"move"))
            signer = client.create_key("EH_EC_P256", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
            src.signature = (signer, client.sign(signer, b"signed before the move", "EH_SHA_256"))
            src.disabled = next(iter(src.ciphertexts))
            client.disable_key(src.disabled)
            src.external = client.create_key("EH_AES_GCM_256", origin="EH_EXTERNAL_KEY")
            params = client.get_parameters_for_import(src.external, "EH_RSA_2048")  # a pending BYOK import
            src.import_pubkey, src.import_token = params.pubkey, params.import_token
            client.create_secret("moved-secret", "s3cr3t-value")
            src.secret = ("moved-secret", "s3cr3t-value")
            exported = pyehsm("export", str(src.export), "--data-dir", str(src.data_dir))  # while serving
            assert exported.returncode == 0, exported.stderr
            assert exported.stdout.startswith("exported ")
        yield src
    finally:
        node.stop()


def test_the_export_file_is_private_and_holds_nothing_in_the_clear(source: Source) -> None:
    assert stat.S_IMODE(source.export.stat().st_mode) == 0o600
    text = source.export.read_text()
    assert source.apikey not in text
    assert "s3cr3t-value" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["format"] == "pyehsm-export" and lines[-1]["end"]["keys"] == 5
    refused = pyehsm("export", str(source.export), "--data-dir", str(source.data_dir))
    assert refused.returncode == 1 and "exists; refusing to overwrite" in refused.stderr


def test_sqlite_to_postgres_is_verified_and_served(source: Source, tmp_path: Path) -> None:
    root_key = f"file:{source.data_dir / 'root.key'}"
    with fresh_database() as url:
        imported = pyehsm("import", str(source.export), "--store", url, "--root-key", root_key)
        assert imported.returncode == 0, imported.stderr
        # 4 keys with material (the external one has none yet), 2 apikeys, 1 secrets key, 1 BYOK wrapping
        # key (import_tokens) and the BYOK token key in meta
        assert "verified by unwrapping: 4 cmk, 2 apikey, 1 secrets_key, 1 import_key, 1 meta" in imported.stdout

        again = pyehsm("import", str(source.export), "--store", url, "--root-key", root_key)
        assert again.returncode == 1 and "the target store is not empty" in again.stderr

        node = ServerProcess(
            tmp_path / "pg-node", "--store", url, "--root-key", root_key, env={"PYEHSM_POOL_DEPTH": NO_POOL}
        ).start()
        try:
            with Client(node.base, source.appid, source.apikey) as client:
                keys = {k.keyid: k for k in client.list_key()}
                assert set(keys) == {*source.ciphertexts, source.signature[0], source.external}
                assert not keys[source.disabled].enabled
                assert keys[source.external].state is not None and not keys[source.external].enabled
                client.enable_key(source.disabled)
                for keyid, (plaintext, blob) in source.ciphertexts.items():
                    assert client.decrypt(keyid, blob, aad=b"move") == plaintext
                signer, signature = source.signature
                assert client.verify(signer, b"signed before the move", signature, "EH_SHA_256") is True
                assert client.get_secret_value(source.secret[0]).secret_data == source.secret[1]
                # the BYOK import started on SQLite finishes on PostgreSQL with the moved token
                public = serialization.load_pem_public_key(source.import_pubkey.encode())
                assert isinstance(public, rsa.RSAPublicKey)
                material = os.urandom(32)
                oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
                assert client.import_key_material(source.external, public.encrypt(material, oaep), source.import_token)
                blob = client.encrypt(source.external, b"byok")
                assert client.decrypt(source.external, blob) == b"byok"
        finally:
            node.stop()

        back = tmp_path / "back.jsonl"  # and out again: PostgreSQL -> file -> a new SQLite store
        assert pyehsm("export", str(back), "--store", url).returncode == 0
    lite = tmp_path / "lite.db"
    restored = pyehsm("import", str(back), "--store", f"sqlite:{lite}", "--root-key", root_key)
    assert restored.returncode == 0, restored.stderr
    assert "verified by unwrapping: 5 cmk, 2 apikey, 1 secrets_key, 0 import_key, 1 meta" in restored.stdout


def test_a_wrong_root_key_or_a_damaged_file_loads_nothing(source: Source, tmp_path: Path) -> None:
    other_key = tmp_path / "other.key"
    other_key.write_bytes(b"\x01" * 32)
    other_key.chmod(0o600)
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("".join(source.export.read_text().splitlines(keepends=True)[:-1]))
    root_key = f"file:{source.data_dir / 'root.key'}"
    with fresh_database() as url:
        wrong = pyehsm("import", str(source.export), "--store", url, "--root-key", f"file:{other_key}")
        assert wrong.returncode == 1
        assert "root key" in wrong.stderr and "Traceback" not in wrong.stderr
        cut = pyehsm("import", str(truncated), "--store", url, "--root-key", root_key)
        assert cut.returncode == 1 and "export file is truncated" in cut.stderr
        with psycopg.connect(url) as conn:  # both refusals left the new store empty
            for table in ("meta", "apps", "keys", "key_versions"):
                assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,)
