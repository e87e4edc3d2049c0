"""A real PostgreSQL for tests (never a mock): the one scripts/pg-test-cluster.sh finds or starts.

The project's machines may run PostgreSQL on 127.0.0.1:5432 (trust auth, database ``test``); elsewhere
the script starts a private cluster in a temporary directory on a free port (Debian's ``postgresql``
binaries, which scripts/test.sh installs). One server per test process (``shared_server()``, stopped at
exit); every test gets its own fresh database (``fresh_database()``), dropped afterwards, so test runs
never see each other's rows. ``PYEHSM_TEST_PG_URL`` overrides the probed URL. ``ReplicatedPair`` starts
a primary and a synchronous standby (failover tests and bench/failover.py).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-cluster.sh"
PROBE_URL = os.environ.get("PYEHSM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DB_PREFIX = "pyehsm_t_"


def with_database(url: str, dbname: str) -> str:
    """``url`` naming database ``dbname`` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@dataclass
class PostgresServer:
    url: str  # a superuser connection URL (maintenance database)
    cluster_dir: str | None  # the private cluster's directory, None for an already running server

    @classmethod
    def start(cls, probe_url: str = PROBE_URL) -> PostgresServer:
        """Use ``probe_url`` when it accepts connections, else start a private cluster."""
        out = subprocess.run(
            ["bash", str(SCRIPT), "start", probe_url], check=True, capture_output=True, text=True, timeout=180
        ).stdout.splitlines()
        url, cluster_dir = out[0].strip(), (out[1].strip() if len(out) > 1 else "")
        return cls(url, cluster_dir or None)

    @classmethod
    def start_private(cls, *settings: str) -> PostgresServer:
        """Always a new private cluster (one the test may crash); ``settings`` are ``name=value`` server
        settings. The caller stops it."""
        out = subprocess.run(
            ["bash", str(SCRIPT), "start-private", *settings], check=True, capture_output=True, text=True, timeout=180
        ).stdout.splitlines()
        return cls(out[0].strip(), out[1].strip())

    def crash(self) -> None:
        """Immediate shutdown of the private cluster (a crash: recovery runs at the next start)."""
        assert self.cluster_dir is not None, "only a private cluster can be crashed"
        subprocess.run(["bash", str(SCRIPT), "crash", self.cluster_dir], check=True, timeout=60)

    def restart(self) -> None:
        """Start the crashed private cluster again, on the same port with the same settings."""
        assert self.cluster_dir is not None, "only a private cluster can be restarted"
        subprocess.run(["bash", str(SCRIPT), "restart", self.cluster_dir], check=True, timeout=180)

    @property
    def private(self) -> bool:
        return self.cluster_dir is not None

    def stop(self) -> None:
        if self.cluster_dir is not None:
            subprocess.run(["bash", str(SCRIPT), "stop", self.cluster_dir], check=False, timeout=60)
            self.cluster_dir = None

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement.encode())

    def create_database(self) -> str:
        name = f"{DB_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}"')
        return with_database(self.url, name)

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        if not name.startswith(DB_PREFIX):
            raise ValueError(f"refusing to drop {name}: not a test database")
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        url = self.create_database()
        try:
            yield url
        finally:
            self.drop_database(url)


@dataclass
class ReplicatedPair:
    """Two private clusters in streaming replication, the standby synchronous (a commit returns once the
    standby has flushed it): ``scripts/pg-test-cluster.sh start-replicated``. For failover tests: crash the
    primary, promote the standby; ``url(db)`` names both (libpq tries them in order and keeps the one that
    accepts writes), so clients find the new primary by themselves."""

    primary: PostgresServer
    standby: PostgresServer

    @classmethod
    def start(cls, *settings: str) -> ReplicatedPair:
        out = subprocess.run(
            ["bash", str(SCRIPT), "start-replicated", *settings],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout.splitlines()
        pair = cls(PostgresServer(out[0].strip(), out[1].strip()), PostgresServer(out[2].strip(), out[3].strip()))
        pair.wait_synchronous()
        return pair

    def wait_synchronous(self, timeout: float = 120.0) -> None:
        """Until the standby has caught up and the primary counts it as synchronous (it reports "async"
        while it streams its first WAL)."""
        deadline = time.monotonic() + timeout
        while self.sync_state() != [("pyehsm_standby", "sync")]:
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("the standby did not become synchronous")
            time.sleep(0.1)

    def create_database(self) -> str:
        """A new database (made on the primary, replicated to the standby); its multi-host URL."""
        return self.url(urlsplit(self.primary.create_database()).path.lstrip("/"))

    def url(self, dbname: str) -> str:
        hosts = ",".join(urlsplit(server.url).netloc.rsplit("@", 1)[1] for server in (self.primary, self.standby))
        return f"postgresql://postgres@{hosts}/{dbname}?target_session_attrs=read-write&connect_timeout=3"

    def sync_state(self) -> list[tuple[str, str]]:
        """(application_name, sync_state) of every standby the primary streams to."""
        with psycopg.connect(self.primary.url, autocommit=True) as conn:
            rows = conn.execute("SELECT application_name, sync_state FROM pg_stat_replication").fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def fail_over(self) -> None:
        """Kill the primary (immediate shutdown, as a crash) and promote the standby."""
        self.primary.crash()
        self.promote()

    def promote(self) -> None:
        assert self.standby.cluster_dir is not None
        subprocess.run(["bash", str(SCRIPT), "promote", self.standby.cluster_dir], check=True, timeout=120)

    def stop(self) -> None:
        self.primary.stop()
        self.standby.stop()


_shared: list[PostgresServer] = []


def shared_server() -> PostgresServer:
    """The test process's PostgreSQL, found or started on first use and stopped at exit."""
    if not _shared:
        server = PostgresServer.start()
        atexit.register(server.stop)
        _shared.append(server)
    return _shared[0]


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the shared server; dropped (connections and all) afterwards."""
    with shared_server().fresh_database() as url:
        yield url
