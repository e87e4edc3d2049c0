"""Numbered SQL migration files per store kind, applied in order and recorded in schema_version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(kind: str) -> list[Migration]:
    """The migrations for ``kind`` ("sqlite" or "postgres"), sorted by version, numbers contiguous."""
    folder = resources.files(__package__).joinpath(kind)
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration numbering gap at {migration.name}")
    return found


def latest_version(kind: str) -> int:
    migrations = load_migrations(kind)
    return migrations[-1].version if migrations else 0
