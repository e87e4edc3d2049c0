"""The one place tests load shared test vectors from (../shared/vectors, never copied)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("PYEHSM_SHARED_DIR", _REPO.parent / "shared"))
VECTORS_DIR = SHARED_DIR / "vectors"


def vector_path(*parts: str) -> Path:
    """Path of a file under shared/vectors; fails loudly when the folder is missing."""
    path = VECTORS_DIR.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test vector {path} not found (set PYEHSM_SHARED_DIR)")
    return path


def load_wycheproof(name: str) -> dict[str, Any]:
    """Load one Wycheproof JSON file, e.g. ``load_wycheproof("aes_gcm_test")``."""
    data: dict[str, Any] = json.loads(vector_path("wycheproof", f"{name}.json").read_text())
    return data


def wycheproof_cases(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Flatten a Wycheproof file into (group, test) pairs."""
    data = load_wycheproof(name)
    return [(group, test) for group in data["testGroups"] for test in group["tests"]]


def attestation_file(name: str) -> bytes:
    """Raw bytes of a file under shared/vectors/attestation."""
    return vector_path("attestation", name).read_bytes()
