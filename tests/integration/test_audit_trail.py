"""The audit trail of real nodes (docs/audit.md): a mixed load on SQLite and on two PostgreSQL nodes verifies;
each kind of tampering is detected and named; `required` mode on a full filesystem refuses requests and loses
no stored data; kill -9 under load, restart, verify; root/domain-key rotation keeps the audit public key and
an audit-key rotation is recorded in the chain."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from pyehsm.audit.record import decoder
from pyehsm.audit.sink import rotated_files
from pyehsm.cli import main
from pyehsm.client import Client, EhsmApiError
from tests.support.postgres import fresh_database
from tests.support.server import NO_POOL_ARGS, ServerProcess

PLAINTEXT = b"AUDIT-PLAINTEXT-5e2b"
SECRET_VALUE = "AUDIT-SECRET-VALUE-77c1"
SECRET_NAME = "payroll-db"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def public_key(data_dir: Path, *extra: str) -> str:
    code, out = run("audit", "public-key", "--data-dir", str(data_dir), *extra)
    assert code == 0, out
    return out.strip()


def verify(files: list[Path], key: str) -> tuple[int, str]:
    return run("audit", "verify", *map(str, files), "--public-key", key)


def trail_files(log: Path) -> list[Path]:
    return [Path(f) for f in rotated_files(str(log))] + ([log] if log.exists() else [])


def mixed_load(c: Client, rounds: int = 4, tag: str = "") -> list[bytes]:
    """Every kind of request: keys, crypto, secrets, failures; returns the secret values used."""
    leaked: list[bytes] = [PLAINTEXT, SECRET_VALUE.encode(), c.apikey.encode()]
    for i in range(rounds):
        keyid = c.create_key("EH_AES_GCM_256")
        ct = c.encrypt(keyid, PLAINTEXT, aad=b"aad")
        leaked.append(base64.b64encode(ct))
        assert c.decrypt(keyid, ct, aad=b"aad") == PLAINTEXT
        with pytest.raises(EhsmApiError):
            c.decrypt(keyid, ct, aad=b"wrong")
        c.create_secret(f"{SECRET_NAME}-{tag}{i}", SECRET_VALUE)
        assert c.get_secret_value(f"{SECRET_NAME}-{tag}{i}").secret_data == SECRET_VALUE
        c.disable_key(keyid)
    forged = Client(c.base_url, c.appid, "not-the-apikey-not-the-apikey-00")
    with pytest.raises(EhsmApiError):
        forged.list_key()
    return leaked


# -- SQLite: a real log verifies, and every kind of tampering is named ---------------------------------------
@pytest.fixture(scope="module")
def sqlite_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, list[bytes]]]:
    root = tmp_path_factory.mktemp("audit-sqlite")
    log = root / "audit.jsonl"
    args = ("--audit-log", str(log), "--audit-checkpoint-records", "10", "--audit-rotate-bytes", "3000")
    proc = ServerProcess(root / "data", *args, *NO_POOL_ARGS).start()
    try:
        with proc.client() as c:
            leaked = mixed_load(c)
        httpx.post(f"{proc.base}?Action=NoSuchAction", content=b"{}")
    finally:
        proc.stop()
    yield log, public_key(root / "data"), leaked


def test_a_real_log_after_a_mixed_load_verifies_and_holds_no_secret(sqlite_log: tuple[Path, str, list[bytes]]) -> None:
    log, key, leaked = sqlite_log
    files = trail_files(log)
    assert len([f for f in files if f.stat().st_size]) >= 4  # rotated by size
    code, out = verify(files, key)
    assert code == 0, out
    assert "TAMPERED" not in out and "unsigned" not in out
    raw = b"".join(f.read_bytes() for f in files)
    for secret in leaked:
        assert secret not in raw
    records = [decoder.decode(line) for f in files for line in f.read_bytes().splitlines()]
    requests = [r for r in records if r.kind == "request"]
    assert {r.action for r in requests} >= {"Enroll", "CreateKey", "Encrypt", "Decrypt", "CreateSecret", "ListKey"}
    assert any(r.unauthenticated and r.action == "ListKey" and r.error == "AuthError" for r in requests)
    assert any(r.name == f"{SECRET_NAME}-0" for r in requests)
    assert all(r.client == "127.0.0.1" and r.door == "ehsm" and r.request_id for r in requests)


def tampered_copy(files: list[Path], tmp: Path) -> list[Path]:
    tmp.mkdir()
    out = []
    for f in files:
        shutil.copy(f, tmp / f.name)
        out.append(tmp / f.name)
    return out


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_an_edited_byte_is_named(sqlite_log: tuple[Path, str, list[bytes]], tmp_path: Path) -> None:
    log, key, _ = sqlite_log
    files = tampered_copy(trail_files(log), tmp_path / "t")
    lines = files[1].read_bytes().splitlines()
    lines[3] = lines[3].replace(b'"code":200', b'"code":201', 1).replace(b'"code":400', b'"code":401', 1)
    rewrite(files[1], lines)
    code, out = verify(files, key)
    assert code == 1 and "modified" in out and f"{files[1]} line 4" in out, out


def test_a_deleted_line_is_named(sqlite_log: tuple[Path, str, list[bytes]], tmp_path: Path) -> None:
    log, key, _ = sqlite_log
    files = tampered_copy(trail_files(log), tmp_path / "t")
    lines = files[1].read_bytes().splitlines()
    del lines[2]
    rewrite(files[1], lines)
    code, out = verify(files, key)
    assert code == 1 and "deleted" in out, out


def test_two_swapped_lines_are_named(sqlite_log: tuple[Path, str, list[bytes]], tmp_path: Path) -> None:
    log, key, _ = sqlite_log
    files = tampered_copy(trail_files(log), tmp_path / "t")
    lines = files[1].read_bytes().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    rewrite(files[1], lines)
    code, out = verify(files, key)
    assert code == 1 and "reordered" in out, out


def test_an_inserted_line_is_named(sqlite_log: tuple[Path, str, list[bytes]], tmp_path: Path) -> None:
    log, key, _ = sqlite_log
    files = tampered_copy(trail_files(log), tmp_path / "t")
    lines = files[1].read_bytes().splitlines()
    lines.insert(3, lines[1])
    rewrite(files[1], lines)
    code, out = verify(files, key)
    assert code == 1 and "inserted" in out, out


def test_a_dropped_middle_file_is_named(sqlite_log: tuple[Path, str, list[bytes]], tmp_path: Path) -> None:
    log, key, _ = sqlite_log
    files = tampered_copy(trail_files(log), tmp_path / "t")
    code, out = verify([files[0], *files[2:]], key)
    assert code == 1 and "missing file" in out, out


def test_a_truncated_tail_is_an_unsigned_tail_not_tampering(
    sqlite_log: tuple[Path, str, list[bytes]], tmp_path: Path
) -> None:
    log, key, _ = sqlite_log
    files = tampered_copy(trail_files(log), tmp_path / "t")
    lines = files[-1].read_bytes().splitlines()
    rewrite(files[-1], lines[:-3])  # the closing checkpoint and two records before it
    code, out = verify(files, key)
    assert code == 2 and "unsigned tail of" in out and "TAMPERED" not in out, out


def test_a_checkpoint_forged_with_another_key_is_named(
    sqlite_log: tuple[Path, str, list[bytes]], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pyehsm.audit.keys import SigningKey
    from pyehsm.audit.record import checkpoint_message, encoder

    log, key, _ = sqlite_log
    files = tampered_copy(trail_files(log), tmp_path / "t")
    lines = files[-1].read_bytes().splitlines()
    rec = decoder.decode(lines[-1])
    assert rec.kind == "checkpoint" and rec.key is not None and rec.count is not None
    forger = SigningKey(1, Ed25519PrivateKey.generate())
    rec.key, rec.sig = (
        forger.id,
        forger.sign(checkpoint_message(rec.node, rec.seq, rec.prev, rec.time, forger.id, rec.count, "")),
    )
    lines[-1] = encoder.encode(rec)
    rewrite(files[-1], lines)
    code, out = verify(files, key)
    assert code == 1 and "forged checkpoint" in out and "not a trusted" in out, out
    code, out = verify(files, base64.b64encode(os.urandom(32)).decode())  # not the node's key at all
    assert code == 1 and "forged checkpoint" in out


# -- two PostgreSQL nodes: files and the PostgreSQL sink ---------------------------------------------------
def test_two_postgresql_nodes_file_and_table_trails_verify(tmp_path: Path) -> None:
    root_key = tmp_path / "root.key"
    fd = os.open(root_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    with fresh_database() as url:
        common = ("--store", url, "--root-key", f"file:{root_key}", *NO_POOL_ARGS, "--audit-checkpoint-records", "7")
        a = ServerProcess(tmp_path / "a", *common, "--audit-log", str(tmp_path / "a.jsonl"), "--audit-node-id", "a")
        b = ServerProcess(tmp_path / "b", *common, "--audit-log", url, "--audit-node-id", "b")
        a.start()
        b.start()
        try:
            with a.client() as ca:
                mixed_load(ca, rounds=2)
                cb = Client(b.base, ca.appid, ca.apikey)
                keyid = cb.create_key("EH_AES_GCM_256")
                assert ca.decrypt(keyid, cb.encrypt(keyid, PLAINTEXT)) == PLAINTEXT
                mixed_load(cb, rounds=2, tag="b")
        finally:
            a.stop()
            b.stop()
        key = public_key(tmp_path / "a", "--store", url, "--root-key", f"file:{root_key}")
        code, out = verify([tmp_path / "a.jsonl"], key)
        assert code == 0 and "node a:" in out, out
        code, out = run("audit", "verify", "--store", url, "--public-key", key)
        assert code == 0 and "node b:" in out, out
        with psycopg.connect(url, autocommit=True) as conn:  # append-only, whoever asks
            for statement in ("UPDATE audit_log SET line = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    conn.execute(statement.encode())
            count = conn.execute("SELECT COUNT(*) FROM audit_log WHERE node = 'b'").fetchone()
            assert count is not None and count[0] > 20


# -- required mode on a full filesystem ----------------------------------------------------------------------
@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]
    done = subprocess.run(command, check=False, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> None:
    """Fill the filesystem to the last byte."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)


def test_required_mode_on_a_full_filesystem_refuses_requests_and_loses_nothing(tmp_path: Path, tiny_fs: Path) -> None:
    log = tiny_fs / "audit.jsonl"
    proc = ServerProcess(tmp_path / "data", "--audit-log", str(log), "--audit-mode", "required", *NO_POOL_ARGS)
    proc.start()
    try:
        with proc.client() as c:
            kept = c.create_key("EH_AES_GCM_256")
            ct = c.encrypt(kept, PLAINTEXT)
            c.create_secret("kept", SECRET_VALUE)
            fill(tiny_fs)
            created = [kept]
            for _ in range(200):  # the audit file's last page may still take a few records
                try:
                    created.append(c.create_key("EH_AES_GCM_128"))
                except EhsmApiError as exc:
                    assert exc.code == 500 and "Audit log unavailable" in exc.message
                    break
            else:
                pytest.fail("a full filesystem never refused a request")
            for _ in range(3):
                with pytest.raises(EhsmApiError) as refused:
                    c.create_key("EH_AES_GCM_128")
                assert refused.value.code == 500 and "Audit log unavailable" in refused.value.message
                with pytest.raises(EhsmApiError):
                    c.delete_secret("kept", force_delete=True)
                with pytest.raises(EhsmApiError):
                    c.disable_key(kept)
            (tiny_fs / "filler").unlink()
            assert c.decrypt(kept, ct) == PLAINTEXT  # nothing was changed or lost
            assert c.get_secret_value("kept").secret_data == SECRET_VALUE
            assert sorted(k.keyid for k in c.list_key()) == sorted(created)
    finally:
        proc.stop()
    code, out = verify([log], public_key(tmp_path / "data"))
    assert code == 0, out
    records = [decoder.decode(line) for line in log.read_bytes().splitlines()]
    refusals = [r for r in records if r.kind == "request" and r.code == 500]
    assert all(r.error == "AuditUnavailable" and r.phase is None for r in refusals)  # recorded when it fit


# -- kill -9 under load ------------------------------------------------------------------------------------
def test_kill_9_under_load_then_restart_and_verify(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    args = ("--audit-log", str(log), "--audit-checkpoint-records", "25", *NO_POOL_ARGS)
    proc = ServerProcess(tmp_path / "data", *args).start()
    with proc.client() as c:
        keyid = c.create_key("EH_AES_GCM_256")
        appid, apikey = c.appid, c.apikey
    stop = threading.Event()
    served = [0]

    def load() -> None:
        with Client(proc.base, appid, apikey) as client:
            while not stop.is_set():
                try:
                    client.encrypt(keyid, PLAINTEXT)
                    served[0] += 1
                except Exception:
                    return

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    while served[0] < 300:
        threading.Event().wait(0.01)
    proc.kill()
    stop.set()
    for w in workers:
        w.join()
    code, out = verify([log], public_key(tmp_path / "data"))
    assert code in (0, 2) and "TAMPERED" not in out, out  # at most an unsigned or torn tail
    proc = ServerProcess(tmp_path / "data", *args, port=proc.port).start()
    try:
        with Client(proc.base, appid, apikey) as client:
            client.encrypt(keyid, PLAINTEXT)
    finally:
        proc.stop()
    code, out = verify([log], public_key(tmp_path / "data"))
    assert code == 0, out


# -- key custody -------------------------------------------------------------------------------------------
def test_root_and_domain_key_rotation_keep_the_audit_key_and_an_audit_key_rotation_is_in_the_chain(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    log = tmp_path / "audit.jsonl"
    proc = ServerProcess(data, "--audit-log", str(log), *NO_POOL_ARGS).start()
    with proc.client() as c:
        c.create_key("EH_AES_GCM_256")
    proc.stop()
    first = public_key(data)
    code, digest = run("audit", "hash", SECRET_NAME, "--data-dir", str(data))
    assert code == 0 and digest.startswith("hmac-sha256:")
    code, out = run("domain-key", "rotate", "--propagation-seconds", "0", "--data-dir", str(data))
    assert code == 0, out
    new_root = tmp_path / "root2.key"
    code, out = run("root-key", "rotate", "--to", f"file:{new_root}", "--data-dir", str(data))
    assert code == 0, out
    after = ("--root-key", f"file:{new_root}")
    assert public_key(data, *after) == first
    assert run("audit", "hash", SECRET_NAME, "--data-dir", str(data), *after) == (0, digest)

    code, second = run("audit", "rotate-key", "--data-dir", str(data), *after)
    assert code == 0 and second.strip() != first
    proc = ServerProcess(data, "--audit-log", str(log), "--root-key", f"file:{new_root}", *NO_POOL_ARGS).start()
    with Client(proc.base, c.appid, c.apikey) as again:
        again.create_key("EH_AES_GCM_256")
    proc.stop()
    records = [decoder.decode(line) for line in log.read_bytes().splitlines()]
    handover = [r for r in records if r.kind == "checkpoint" and r.next_key]
    assert [r.next_key for r in handover] == [second.strip()]
    assert verify([log], first)[0] == 0  # the old key and the chain's hand-over prove everything
    code, out = verify([log], second.strip())  # the new key alone cannot prove the part before it
    assert code == 1 and "forged checkpoint" in out
