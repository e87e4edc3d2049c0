"""The import contracts in pyproject.toml (docs/architecture.md section 3) hold for the source tree, and they
catch an upward import, a protocol package imported below the services, and configuration read below app.py.

The second half runs the same contracts over a throwaway package of empty modules with one bad import added,
so a contract that stopped matching anything (a renamed package, a typo) fails here instead of passing quietly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path, pythonpath: Path | None = None, *contracts: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    command = [str(LINT_IMPORTS), "--no-cache", *(arg for contract in contracts for arg in ("--contract", contract))]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_source_tree_keeps_every_import_contract() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _contract_modules(config: dict[str, object]) -> set[str]:
    """Every pyehsm module the contracts name (layers, sources, forbidden modules, ignored imports)."""
    names: set[str] = set()
    contracts = config["contracts"]
    assert isinstance(contracts, list)
    for contract in contracts:
        for layer in contract.get("layers", []):
            names.update(f"pyehsm.{name}" for name in re.findall(r"[a-z_]+", layer))
        names.update(contract.get("source_modules", []))
        names.update(contract.get("forbidden_modules", []))
        for ignored in contract.get("ignore_imports", []):
            names.update(part.strip() for part in ignored.split("->"))
    return names


def _skeleton(root: Path, bad_import: tuple[str, str] | None) -> Path:
    """A package named pyehsm with an empty module for each name the contracts use, plus the ignored imports."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    config = pyproject["tool"]["importlinter"]
    imports: dict[str, list[str]] = {}
    for contract in config["contracts"]:
        for ignored in contract.get("ignore_imports", []):
            importer, imported = (part.strip() for part in ignored.split("->"))
            imports.setdefault(importer, []).append(imported)
    modules = _contract_modules(config) | {"pyehsm"} | set(imports)
    if bad_import is not None:
        imports.setdefault(bad_import[0], []).append(bad_import[1])
        modules |= set(bad_import)
    for module in sorted(modules):
        parts = module.split(".")
        package = root.joinpath("src", *parts)
        package.mkdir(parents=True, exist_ok=True)
        lines = [f"import {imported}\n" for imported in imports.get(module, [])]
        (package / "__init__.py").write_text("".join(lines))
        for depth in range(1, len(parts)):  # parents the contracts do not name are regular packages too
            init = root.joinpath("src", *parts[:depth], "__init__.py")
            if not init.exists():
                init.write_text("")
    project = root / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    return root / "src"


def test_the_contracts_pass_on_an_empty_skeleton(tmp_path: Path) -> None:
    src = _skeleton(tmp_path, None)
    result = _lint_imports(tmp_path / "project", src)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("pyehsm.services.keys", "pyehsm.http.asgi", "no-protocol-below-services"),
        ("pyehsm.store.sqlite", "pyehsm.protocols.ehsm.actions.keys", "no-protocol-below-services"),
        ("pyehsm.crypto.rsa", "pyehsm.protocols.ehsm.signing", "no-protocol-below-services"),
        ("pyehsm.keyring.keyring", "pyehsm.protocols.ehsm.errors", "no-protocol-below-services"),
        ("pyehsm.services.keys", "pyehsm.config", "no-config-below-app"),
        ("pyehsm.store.postgres", "pyehsm.config", "no-config-below-app"),
        ("pyehsm.crypto.rsa", "pyehsm.keyring.keyring", "layers"),
        ("pyehsm.store.sqlite", "pyehsm.services.keys", "layers"),
        ("pyehsm.client.api", "pyehsm.app", "layers"),
        ("pyehsm.app", "pyehsm.cli.server", "layers"),
        ("pyehsm.http.asgi", "pyehsm.protocols.ehsm.endpoint", "layers"),
    ],
)
def test_each_contract_catches_its_violation(tmp_path: Path, importer: str, imported: str, contract: str) -> None:
    src = _skeleton(tmp_path, (importer, imported))
    result = _lint_imports(tmp_path / "project", src, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout
    assert f"{importer} -> {imported}" in result.stdout
