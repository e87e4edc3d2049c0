#!/usr/bin/env bash
# Install the test dependencies and run the whole default test suite.
# Works on a fresh Debian machine with only Python 3.11+: creates .venv, installs the Debian packages
# the tests need (as root, via apt-get) and the project with its test extras, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
DEBIAN_PACKAGES=(openssl softhsm2 postgresql)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

missing=()
command -v openssl >/dev/null || missing+=(openssl)
[ -e /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if ! "$PYTHON" -c "import venv, ensurepip" 2>/dev/null; then missing+=(python3-venv); fi
# pip builds pyehsm's optional C extension (the replay table's hot path) when it finds a compiler and the
# Python headers; the tests cover both it and the Python path (tests/unit/test_optional_dependencies.py)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
if ! "$PYTHON" -c "import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h'))" 2>/dev/null; then
    missing+=(python3-dev)
fi
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"  # test pulls in every extra

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
