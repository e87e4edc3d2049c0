"""Version and build id reported by GetVersion."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from pyehsm import __version__

VERSION = __version__


@functools.cache
def git_sha() -> str:
    """PYEHSM_GIT_SHA, else the short sha of the checkout the package runs from, else "unknown"."""
    env = os.environ.get("PYEHSM_GIT_SHA")
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else "unknown"
