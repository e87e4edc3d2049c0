"""Large data through the CLI against a real server: `encrypt-file` / `decrypt-file` (envelope encryption,
chunked AES-256-GCM, tamper, truncation and reordering detected) and `sign --file` / `verify --file`
(hashed locally, digest signed), checked with the public key in cryptography."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from pyehsm.cli.files import MAGIC, TAG_BYTES, FileHeader
from pyehsm.client import Client
from pyehsm.crypto.sm2 import SM2PublicKey
from tests.e2e.test_cli import cli_env, run

CHUNK = 4096


def big_file(path: Path, size: int) -> bytes:
    data = hashlib.shake_256(b"pyehsm file").digest(size)
    path.write_bytes(data)
    return data


def layout(sealed: bytes) -> tuple[FileHeader, int, list[bytes]]:
    """The header, its length and the chunks of an encrypt-file output."""
    header, raw = FileHeader.read(io.BytesIO(sealed))
    body = sealed[len(raw) :]
    step = header.chunk_size + TAG_BYTES
    return header, len(raw), [body[i : i + step] for i in range(0, len(body), step)]


def test_encrypt_file_round_trip_of_a_multi_megabyte_file(client: Client, tmp_path: Path) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    data = big_file(tmp_path / "big.bin", 5 * 1024 * 1024 + 123)
    enc = run(["encrypt-file", "-k", keyid, str(tmp_path / "big.bin"), str(tmp_path / "big.enc"), "-o", "json"], env)
    assert enc.exit_code == 0, enc.output
    expected = {"keyid": keyid, "out": str(tmp_path / "big.enc"), "bytes": len(data), "chunks": 81}
    assert json.loads(enc.stdout) == expected
    sealed = (tmp_path / "big.enc").read_bytes()
    assert sealed.startswith(MAGIC) and data[:4096] not in sealed
    header, _, chunks = layout(sealed)
    assert header.keyid == keyid and header.chunk_size == 64 * 1024 and len(chunks) == 81
    assert client.decrypt(keyid, header.wrapped_key) != b""  # the data key is an ordinary CMK ciphertext
    dec = run(["decrypt-file", str(tmp_path / "big.enc"), str(tmp_path / "big.out")], env)
    assert dec.exit_code == 0, dec.output
    assert (tmp_path / "big.out").read_bytes() == data
    assert (tmp_path / "big.out").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_encrypt_file_chunk_boundaries_and_aad(client: Client, tmp_path: Path, size: int) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    data = big_file(tmp_path / "in", size)
    args = ["--chunk-size", str(CHUNK), "--aad", "project=x"]
    assert run(["encrypt-file", "-k", keyid, str(tmp_path / "in"), str(tmp_path / "enc"), *args], env).exit_code == 0
    header, _, chunks = layout((tmp_path / "enc").read_bytes())
    assert header.aad == b"project=x" and len(chunks) == max(1, -(-size // CHUNK))
    assert run(["decrypt-file", "-k", keyid, str(tmp_path / "enc"), str(tmp_path / "out")], env).exit_code == 0
    assert (tmp_path / "out").read_bytes() == data


def test_decrypt_file_detects_tampering_truncation_and_reordering(client: Client, tmp_path: Path) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_AES_GCM_256")
    big_file(tmp_path / "in", 4 * CHUNK + 100)
    enc = run(
        ["encrypt-file", "-k", keyid, str(tmp_path / "in"), str(tmp_path / "enc"), "--chunk-size", f"{CHUNK}"], env
    )
    assert enc.exit_code == 0
    sealed = (tmp_path / "enc").read_bytes()
    _, header_len, chunks = layout(sealed)
    head = sealed[:header_len]
    flipped = bytearray(sealed)
    flipped[header_len + CHUNK + 7] ^= 1
    nonce_prefix_at = len(MAGIC) + 4 + 5  # magic, length, version, chunk size
    other_prefix = bytearray(head)
    other_prefix[nonce_prefix_at] ^= 1
    bad = {
        "flipped bit": bytes(flipped),
        "last chunk dropped": head + b"".join(chunks[:-1]),
        "cut at a chunk boundary inside": head + b"".join(chunks[:2]),
        "cut mid-chunk": sealed[:-5],
        "chunks swapped": head + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "chunk repeated": head + chunks[0] + b"".join(chunks),
        "chunk appended": sealed + chunks[1],
        "header changed": bytes(other_prefix) + b"".join(chunks),
    }
    for name, blob in bad.items():
        (tmp_path / "bad").write_bytes(blob)
        out = tmp_path / "out"
        result = run(["decrypt-file", str(tmp_path / "bad"), str(out)], env)
        assert result.exit_code == 1, name
        assert "fails authentication" in result.stderr, (name, result.stderr)
        assert not out.exists(), name  # nothing is written for a file that does not authenticate
    wrong_key = client.create_key("EH_AES_GCM_256")
    mismatch = run(["decrypt-file", "-k", wrong_key, str(tmp_path / "enc"), str(tmp_path / "out")], env)
    assert mismatch.exit_code == 1 and keyid in mismatch.stderr
    (tmp_path / "junk").write_bytes(b"plain text, not encrypted")
    junk = run(["decrypt-file", str(tmp_path / "junk"), "-", "-o", "json"], env)
    assert junk.exit_code == 1 and "not a pyehsm encrypted file" in json.loads(junk.stderr)["error"]["message"]
    forged = head[: len(MAGIC)] + struct.pack(">I", 10**6)
    (tmp_path / "forged").write_bytes(forged)
    assert run(["decrypt-file", str(tmp_path / "forged"), "-"], env).exit_code == 1


def test_encrypt_file_through_pipes(client: Client, tmp_path: Path) -> None:
    keyid = client.create_key("EH_AES_GCM_256")
    env = {**os.environ, **cli_env(client)}
    pyehsm = f"{sys.executable} -m pyehsm"
    data = big_file(tmp_path / "in", 300_000)
    shell = f"{pyehsm} encrypt-file -k {keyid} - - | {pyehsm} decrypt-file - -"
    piped = subprocess.run(shell, shell=True, input=data, env=env, capture_output=True, check=False)
    assert (piped.returncode, piped.stdout == data) == (0, True), piped.stderr


def _public(client: Client, keyid: str) -> bytes:
    return client.get_public_key(keyid).encode()


@pytest.mark.parametrize("keyspec", ["EH_EC_P256", "EH_RSA_2048", "EH_EC_P384"])
def test_sign_file_verifies_with_the_public_key(client: Client, tmp_path: Path, keyspec: str) -> None:
    env = cli_env(client)
    keyid = client.create_key(keyspec, keyusage="EH_KEYUSAGE_SIGN_VERIFY")
    data = big_file(tmp_path / "release.tar.gz", 3 * 1024 * 1024)
    signed = run(["sign", "-k", keyid, "--file", str(tmp_path / "release.tar.gz"), "--out", str(tmp_path / "sig")], env)
    assert signed.exit_code == 0, signed.output
    signature = (tmp_path / "sig").read_bytes()
    public = serialization.load_pem_public_key(_public(client, keyid))
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        public.verify(signature, data, pss, hashes.SHA256())
    ok = run(["verify", "-k", keyid, "-s", f"@{tmp_path / 'sig'}", "--file", str(tmp_path / "release.tar.gz")], env)
    assert (ok.exit_code, ok.stdout.strip()) == (0, "valid")
    (tmp_path / "other").write_bytes(data[:-1] + b"\x00")
    bad = run(["verify", "-k", keyid, "-s", f"@{tmp_path / 'sig'}", "--file", str(tmp_path / "other")], env)
    assert bad.exit_code == 1


def test_sign_file_with_sm2_and_from_stdin(client: Client, tmp_path: Path) -> None:
    env = cli_env(client)
    keyid = client.create_key("EH_SM2", keyusage="EH_KEYUSAGE_SIGN_VERIFY")
    data = big_file(tmp_path / "blob", 100_000)
    signed = run(["sign", "-k", keyid, "--file", "-", "--raw"], env, input=data)
    assert signed.exit_code == 0, signed.output
    # SM2 signs SM3(Z_A || message) for EH_DIGEST too (Intel's semantics): --file sends SM3(file) as the message
    file_digest = hashlib.new("sm3", data).digest()
    assert SM2PublicKey.from_pem(_public(client, keyid)).verify(signed.stdout_bytes, file_digest)
    assert not SM2PublicKey.from_pem(_public(client, keyid)).verify(signed.stdout_bytes, data)
    assert client.verify(keyid, data[:6000], client.sign(keyid, data[:6000]))
    hmac = client.create_key("EH_HMAC")
    refused = run(["sign", "-k", hmac, "--file", str(tmp_path / "blob")], env)
    assert refused.exit_code == 2 and "RSA, EC and SM2" in refused.stderr
