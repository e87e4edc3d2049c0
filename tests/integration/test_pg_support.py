"""tests/support/postgres.py itself: the private-cluster path taken on machines without PostgreSQL."""

from __future__ import annotations

import os
import socket

import psycopg

from tests.support.postgres import PostgresServer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_without_a_reachable_server_a_private_cluster_is_started_and_removed() -> None:
    server = PostgresServer.start(f"postgresql://postgres@127.0.0.1:{closed_port()}/test")
    assert server.private and server.cluster_dir is not None
    cluster_dir = server.cluster_dir
    try:
        with server.fresh_database() as url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE t (x int)")
                conn.execute("INSERT INTO t VALUES (1)")
                assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
            with psycopg.connect(server.url) as conn:
                assert (url.rsplit("/", 1)[1],) in conn.execute("SELECT datname FROM pg_database").fetchall()
        with psycopg.connect(server.url) as conn:  # dropped again
            assert (url.rsplit("/", 1)[1],) not in conn.execute("SELECT datname FROM pg_database").fetchall()
    finally:
        server.stop()
    assert not os.path.exists(cluster_dir)
