"""Domain errors as eHSM answers them: for tests that assert the wire message of a service or crypto refusal."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest

from pyehsm.errors import DomainError
from pyehsm.protocols.ehsm.errors import EhsmError, to_ehsm


class Raised:
    """What ``ehsm_raises`` caught: ``value`` is the eHSM envelope error (code, message) of the domain error,
    ``domain`` the domain error itself."""

    value: EhsmError
    domain: DomainError


@contextlib.contextmanager
def ehsm_raises(kind: type[DomainError] = DomainError, match: str | None = None) -> Iterator[Raised]:
    """Like ``pytest.raises(kind, match=...)``, with ``match`` searched in the eHSM message of the error."""
    raised = Raised()
    with pytest.raises(kind) as info:
        yield raised
    raised.domain = info.value
    raised.value = to_ehsm(info.value)
    if match is not None:
        assert re.search(match, raised.value.message), f"{match!r} not in {raised.value.message!r}"
