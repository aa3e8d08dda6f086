"""pytest fixtures for the MySQL storage tests (imported by tests/storage/test_mysql.py).

* ``mysql_server``: a session-wide server (MariaDB started by tests/storage/mysql_server.py, or
  the one of ``INFINITIC_MYSQL_URL``). Without binaries the tests are skipped with the reason,
  unless ``INFINITIC_REQUIRE_SERVERS=1``: then they fail.
* ``mysql_endpoint``: a fresh, empty database on it for one test (dropped afterwards).
* ``mysql_private_server``: a server of the test's own, for tests that restart it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .mysql_server import Endpoint, MariaDBServer, Server, find_server, require_servers

__all__ = ["mysql_endpoint", "mysql_private_server", "mysql_server"]


def _found() -> Server:
    server, why = find_server()
    if server is None:
        if require_servers():
            pytest.fail(f"INFINITIC_REQUIRE_SERVERS is set but {why}")
        pytest.skip(why)
    return server


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[Server]:
    server = _found().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mysql_endpoint(mysql_server: Server) -> Iterator[Endpoint]:
    with mysql_server.endpoint.fresh_database() as endpoint:
        yield endpoint


@pytest.fixture
def mysql_private_server() -> Iterator[MariaDBServer]:
    server = _found()
    if not isinstance(server, MariaDBServer):
        pytest.skip("restarting the server needs a local MariaDB (not INFINITIC_MYSQL_URL)")
    server.start()
    try:
        yield server
    finally:
        server.stop()
