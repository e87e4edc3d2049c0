"""Installs without the optional parts: no C compiler (the replay table's extension is not built), no
"postgresql" extra (psycopg), no "pkcs11" extra (python-pkcs11).

Each case runs pyehsm in a fresh interpreter whose import system refuses the missing modules (a
finder at the front of sys.meta_path, installed before pyehsm is imported): the import really fails,
as it does on a machine where pip never installed or built them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyehsm.store import mapped_replay

# Run with: python -c PRELUDE <modules to refuse, comma-separated> <code to run after the prelude>
PRELUDE = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class Refuse(MetaPathFinder):
        def __init__(self, names):
            self.names = names

        def find_spec(self, name, path=None, target=None):
            if name in self.names or name.split(".")[0] in self.names:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    blocked, code = sys.argv[1], sys.argv[2]
    sys.argv = ["pyehsm", *sys.argv[3:]]
    sys.meta_path.insert(0, Refuse(set(blocked.split(","))))
    exec(compile(code, "<test>", "exec"))
    """
)
CLI = "from pyehsm.cli import main\nmain()"
WITHOUT_EXTRAS = "psycopg,psycopg_pool,pkcs11,pyehsm.store._replay_probe"


def run(blocked: str, code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE, blocked, code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_the_refusing_finder_really_makes_the_import_fail(tmp_path: Path) -> None:
    done = run("psycopg", "import psycopg", cwd=tmp_path)
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'psycopg'" in done.stderr


def test_a_postgresql_store_without_the_extra_names_the_extra(tmp_path: Path) -> None:
    done = run(
        "psycopg,psycopg_pool",
        CLI,
        "migrate",
        "--data-dir",
        str(tmp_path),
        "--store",
        "postgresql://localhost/x",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == 'pyehsm: PostgreSQL support needs the "postgresql" extra: pip install "pyehsm[postgresql]"'
    )


def test_a_pkcs11_root_key_without_the_extra_names_the_extra(tmp_path: Path) -> None:
    spec = "pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=t;key=k;pin-env=PYEHSM_TEST_PIN"
    done = run("pkcs11", CLI, "enroll", "--data-dir", str(tmp_path), "--root-key", spec, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == 'pyehsm: PKCS#11 support needs the "pkcs11" extra: pip install "pyehsm[pkcs11]"'


def test_the_embedded_default_runs_without_any_optional_part(tmp_path: Path) -> None:
    """SQLite, a root key file, the replay table's Python path: enroll offline, then a replayed request
    is refused by a node that never imported psycopg, python-pkcs11 or the C extension."""
    data = tmp_path / "data"
    done = run(WITHOUT_EXTRAS, CLI, "enroll", "--data-dir", str(data), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("appid: ")
    code = textwrap.dedent(
        f"""
        import asyncio, json
        from pathlib import Path
        from dataclasses import replace
        from pyehsm.app import open_runtime
        from pyehsm.cli.server import base_settings
        from pyehsm.store import mapped_replay

        async def main():
            runtime = await open_runtime(replace(base_settings(Path({str(data)!r}), None, None), pool_depth={{}}))
            try:
                first = await runtime.replay.remember("app", "sign", 1_800_000_000_000)
                again = await runtime.replay.remember("app", "sign", 1_800_000_000_001)
                return {{"impl": runtime.replay.probe_impl, "first": first, "again": again}}
            finally:
                await runtime.close()

        out = asyncio.run(main())
        out["loaded"] = sorted(m for m in ("psycopg", "pkcs11", "pyehsm.store._replay_probe") if m in sys.modules)
        out["module_impl"] = mapped_replay.PROBE_IMPL
        print(json.dumps(out))
        """
    )
    done = run(WITHOUT_EXTRAS, code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "impl": "python",
        "module_impl": "python",
        "first": True,
        "again": False,
        "loaded": [],
    }
    assert "replay table: the Python path" in done.stderr  # said at start-up


@pytest.mark.skipif(mapped_replay._PROBE is None, reason="the C extension _replay_probe is not built")
def test_with_the_extension_built_the_c_path_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from pyehsm.store import mapped_replay; print(mapped_replay.PROBE_IMPL)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "c"
