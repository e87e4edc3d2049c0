"""What a running pyehsm node holds, read from outside: its worker processes' memory and open files, its
database's size, and values from its /metrics (the soak and key-count scenarios report them)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (uvicorn's workers, and whatever they started), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def workers(server_pid: int) -> list[int]:
    """The server's worker processes: its descendants running pyehsm (or the server itself with one worker)."""
    pids = [p for p in descendants(server_pid) if _is_python(p)]
    return pids or [server_pid]


def _is_python(pid: int) -> bool:
    try:
        return b"python" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and its parts (RssAnon: the process's own heap; RssFile/RssShmem: mapped files such as the
    replay table, shared with the other workers), in MiB."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def sqlite_bytes(data_dir: Path) -> int:
    """The SQLite store's files (the database and its WAL), not the replay table."""
    return sum(p.stat().st_size for p in data_dir.glob("pyehsm.db*") if p.is_file())


def postgres_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def metric(root_url: str, name: str) -> float:
    """The sum of a metric's samples on a node's /metrics (0 when absent)."""
    text = httpx.get(f"{root_url}/metrics", timeout=60).text
    total = 0.0
    for value in re.findall(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$", text, re.MULTILINE):
        total += float(value)
    return total
