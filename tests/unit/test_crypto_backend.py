"""The start-up check of the installed ``cryptography`` (src/pyehsm/crypto/backend.py)."""

from __future__ import annotations

import cryptography

from pyehsm.crypto.backend import MINIMUM, check_backend, version_problem


def test_an_old_cryptography_is_named_with_the_fix() -> None:
    for old in ("44.0.3", "47.0.0", "48.0.0"):
        problem = version_problem(old)
        assert problem == (
            f"pyehsm needs cryptography >= 49.0 (ML-DSA and ML-KEM keys); cryptography {old} is installed: "
            "upgrade it with: pip install --upgrade 'cryptography>=49'"
        )


def test_current_releases_pass() -> None:
    assert MINIMUM == (49, 0)
    for fine in ("49.0.0", "50.0.2", "51.1.0"):
        assert version_problem(fine) is None
    assert version_problem(cryptography.__version__) is None
    check_backend()  # the installed one makes ML-DSA and ML-KEM keys (raises StartupError otherwise)
