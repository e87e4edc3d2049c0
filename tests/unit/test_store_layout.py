"""The store package's shape: it imports nothing above it (not config: values are passed in), each store's SQL
lives in its own package split by concern, and no module of those packages grows past ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pyehsm.store

STORE = Path(pyehsm.store.__file__).parent
ALLOWED = ("pyehsm.store", "pyehsm.errors", "pyehsm.extras", "pyehsm.clock")
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(STORE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_store_imports_nothing_above_it() -> None:
    upward = {
        f"{path.relative_to(STORE)}: {name}"
        for path in _modules()
        for name in _imports(path)
        if name.startswith("pyehsm") and not name.startswith(ALLOWED)
    }
    assert not upward, f"store modules import layers above the store (config included): {sorted(upward)}"


def test_each_store_is_a_package_split_by_concern() -> None:
    for kind in ("sqlite", "postgres"):
        assert not (STORE / f"{kind}.py").exists()
        package = STORE / kind
        names = {p.stem for p in package.glob("*.py")}
        concerns = {"connection", "apps", "keys", "secrets", "import_params", "quote_policies", "meta", "portable"}
        assert concerns <= names, f"{kind}: {sorted(concerns - names)}"


def test_no_store_package_module_is_too_long() -> None:
    long = {
        str(path.relative_to(STORE)): n
        for path in _modules()
        if path.parent.name in ("sqlite", "postgres") or path.name in ("base.py", "cache.py", "records.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules by concern: {long}"
