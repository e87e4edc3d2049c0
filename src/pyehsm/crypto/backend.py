"""The ``cryptography`` release pyehsm needs, checked when the server starts (before any key family loads).

ML-DSA (FIPS 204) and ML-KEM (FIPS 203) come from ``cryptography``'s OpenSSL backend. 47.0 has the modules,
but its standard wheels refuse both ("not supported by this backend"); 48.0's standard wheels are the first
that make both keys; ML-DSA's external-mu signing (``sign_mu`` / ``verify_mu``, for ``EH_EXTERNAL_MU``)
arrived in 49.0, the minimum pinned in pyproject.toml (each checked with the manylinux wheel in a scratch
virtualenv). An older or differently built
``cryptography`` would otherwise fail on the first request of an ML-DSA or ML-KEM key, or at import time
with a bare ImportError; this check names the fix instead.
"""

from __future__ import annotations

import importlib

from pyehsm.errors import StartupError

MINIMUM = (49, 0)
_FIX = "upgrade it with: pip install --upgrade 'cryptography>=49'"


def version_problem(version: str) -> str | None:
    """Why ``cryptography`` ``version`` is too old for pyehsm, or None."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None  # a development build: the probe below decides
    if found < MINIMUM:
        return (
            f"pyehsm needs cryptography >= {MINIMUM[0]}.{MINIMUM[1]} (ML-DSA and ML-KEM keys); "
            f"cryptography {version} is installed: {_FIX}"
        )
    return None


def check_backend() -> None:
    """StartupError unless the installed ``cryptography`` can make ML-DSA and ML-KEM keys."""
    import cryptography

    problem = version_problem(cryptography.__version__)
    if problem is not None:
        raise StartupError(problem)
    try:
        mldsa = importlib.import_module("cryptography.hazmat.primitives.asymmetric.mldsa")
        mlkem = importlib.import_module("cryptography.hazmat.primitives.asymmetric.mlkem")
        mldsa.MLDSA44PrivateKey.generate().sign_mu(bytes(64))
        mlkem.MLKEM768PrivateKey.generate()
    except Exception as exc:  # ImportError, UnsupportedAlgorithm (a build without them), AttributeError
        raise StartupError(
            f"pyehsm needs ML-DSA and ML-KEM from cryptography's OpenSSL backend, and the installed cryptography "
            f"{cryptography.__version__} cannot make them ({type(exc).__name__}): {_FIX} (a standard wheel)"
        ) from None
