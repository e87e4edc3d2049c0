"""The one place tests load test vectors from: the folders beside this file, carried in this repository
(README.md here names each folder's source, commit and license). ``from tests.vectors import ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent


def vector_path(*parts: str) -> Path:
    """Path of a file under tests/vectors; fails loudly when it is missing."""
    path = VECTORS_DIR.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"test vector {path} not found")
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
    """Raw bytes of a file under tests/vectors/attestation."""
    return vector_path("attestation", name).read_bytes()
