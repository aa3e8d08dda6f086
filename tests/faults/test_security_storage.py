"""Storage credentials on real servers: Redis with a password or an ACL user, over TLS; MariaDB
with a user of its own password. Workflows run with the right ones; wrong ones are refused with
an error naming the server and what to check, never a password."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from infinitic.errors import StorageError
from infinitic.storage import create_storage
from tests import sample_workflows as sw
from tests.faults.security_material import make_tls, unique_secret
from tests.helpers import workflow_worker
from tests.storage.mysql_server import MariaDBServer, Server
from tests.storage.redis_server import RedisServer, RedisServerFactory

WAIT = 30


def redis_options(server: RedisServer, **overrides: Any) -> dict[str, Any]:
    """`storage: {redis: ...}` in the YAML keys, with `overrides` (None removes a key)."""
    options: dict[str, Any] = {"host": server.host, "port": server.port}
    if server.username:
        options["username"] = server.username
    if server.password is not None:
        options["password"] = server.password
    if server.tls is not None:
        options |= {"ssl": True, "sslCaCerts": str(server.tls.ca_cert)}
    options.update(overrides)
    return {"redis": {k: v for k, v in options.items() if v is not None}}


def start_error(storage_config: dict[str, Any]) -> StorageError:
    storage = create_storage(storage_config)

    async def start() -> None:
        try:
            await storage.start()
        finally:
            await storage.close()

    with pytest.raises(StorageError) as caught:
        asyncio.run(start())
    return caught.value


def run_workflows(storage: dict[str, Any]) -> None:
    with workflow_worker(storage) as worker:
        flow = worker.client.new_workflow(sw.BasicWorkflow)
        handles = [worker.client.dispatch(flow.sequential, 4) for _ in range(5)]
        assert [h.result(timeout=WAIT) for h in handles] == [6] * 5


@pytest.mark.redis
@pytest.mark.parametrize("acl_user", [False, True], ids=["requirepass", "acl-user"])
def test_redis_with_a_password_over_tls_runs_workflows_and_refuses_wrong_credentials(
    redis_server_factory: RedisServerFactory, tmp_path: Path, acl_user: bool
) -> None:
    password = unique_secret("redis-password")
    tls = make_tls(tmp_path / "tls")
    server = redis_server_factory(username="app" if acl_user else None, password=password, tls=tls)
    run_workflows(redis_options(server))
    where = f"{server.host}:{server.port}"
    wrong = unique_secret("wrong-redis-password")
    for options in ({"password": wrong}, {"password": None, "username": None}):
        error = str(start_error(redis_options(server, **options)))
        assert "authentication" in error and where in error, error
        assert "storage.redis.password" in error
        assert password not in error and wrong not in error
    # the server's certificate is checked: signed by another CA, it is not trusted
    other_ca = make_tls(tmp_path / "other", name="someone-else").ca_cert
    untrusted = str(start_error(redis_options(server, sslCaCerts=str(other_ca))))
    assert "not trusted" in untrusted and "sslCaCerts" in untrusted, untrusted
    assert password not in untrusted


@pytest.mark.mysql
def test_mysql_user_with_a_password_runs_workflows_and_a_wrong_one_is_refused(
    mysql_server: Server,
) -> None:
    if not isinstance(mysql_server, MariaDBServer):
        pytest.skip("adding a user needs the local MariaDB (not INFINITIC_MYSQL_URL)")
    password = unique_secret("mysql-password")
    user = f"sec_{uuid.uuid4().hex[:8]}"
    with mysql_server.add_user(user, password).fresh_database() as endpoint:
        run_workflows({"mysql": endpoint.options()})
        wrong = unique_secret("wrong-mysql-password")
        for bad in (wrong, ""):
            error = str(start_error({"mysql": endpoint.options(password=bad)}))
            assert "access denied" in error and repr(user) in error, error
            assert f"{endpoint.host}:{endpoint.port}" in error
            assert password not in error and wrong not in error
