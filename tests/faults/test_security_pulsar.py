"""Pulsar over TLS with token authentication, on a real broker started for this module.

The broker (scripts/start-pulsar --tls-cert/--tls-key --token-secret-key) has a certificate
for 127.0.0.1 signed by a CA made here, and accepts HS256 tokens signed with a key made here;
authorization is on, with the app's role a super-user. Its plain ports stay open but need a
token too, which the first test checks, so a broker that does not enforce anything fails it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import ssl
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infinitic import InfiniticWorker
from infinitic.errors import ConfigError, StorageError
from infinitic.transport.pulsar.errors import (
    PulsarAuthenticationError,
    PulsarConnectionError,
    PulsarTlsError,
)
from infinitic.transport.pulsar.transport import CLIENT_LOGGER
from tests import sample_services as s
from tests import sample_workflows as sw
from tests.faults.security_material import TlsFiles, hs256_token, make_tls, unique_secret
from tests.helpers import config
from tests.pulsar_server import started_broker
from tests.storage.mysql_server import MariaDBServer, Server
from tests.storage.redis_server import RedisServerFactory

pytestmark = [pytest.mark.pulsar, pytest.mark.slow]
WAIT = 60


@dataclass(frozen=True)
class SecureBroker:
    url: str  # pulsar+ssl://
    admin_url: str  # https://
    plain_url: str
    plain_admin_url: str
    tls: TlsFiles
    other_ca: Path  # a CA that did not sign the broker's certificate
    token: str  # a super-user's
    wrong_token: str  # well formed, signed with another key

    def transport(self, **overrides: Any) -> dict[str, Any]:
        """A transport config on a fresh namespace; `client` entries and top keys overridable
        (a value of None removes the key)."""
        client: dict[str, Any] = {
            "authentication": {"token": self.token},
            "tlsTrustCertsFilePath": str(self.tls.ca_cert),
            "operationTimeoutSeconds": 30,
        }
        client.update(overrides.pop("client", {}))
        options: dict[str, Any] = {
            "brokerServiceUrl": self.url,
            "webServiceUrl": self.admin_url,
            "tenant": "infinitic-secure",
            "namespace": f"t-{uuid.uuid4().hex[:10]}",
            "client": client,
            **overrides,
        }
        for block in (options, client):
            for key in [k for k, v in block.items() if v is None]:
                del block[key]
        return {"pulsar": options}


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    home = tmp_path_factory.mktemp("secure-pulsar")
    tls = make_tls(home / "tls")
    other = make_tls(home / "other", name="someone-else")
    key = os.urandom(32)
    (home / "secret.key").write_bytes(key)
    (home / "admin.token").write_text(hs256_token(key, "admin"))
    for path in (home / "secret.key", home / "admin.token"):
        path.chmod(0o600)
    options = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    options += ["--token-secret-key", str(home / "secret.key")]
    options += ["--admin-token-file", str(home / "admin.token")]
    options += ["--superuser-roles", "admin,infinitic-app"]
    with started_broker(*options) as values:
        yield SecureBroker(
            url=values["INFINITIC_PULSAR_TLS_URL"],
            admin_url=values["INFINITIC_PULSAR_TLS_ADMIN_URL"],
            plain_url=values["INFINITIC_PULSAR_URL"],
            plain_admin_url=values["INFINITIC_PULSAR_ADMIN_URL"],
            tls=tls,
            other_ca=other.ca_cert,
            token=hs256_token(key, "infinitic-app"),
            wrong_token=hs256_token(os.urandom(32), "infinitic-app"),
        )


def admin_get(broker: SecureBroker, base: str, path: str, token: str | None) -> Any:
    request = urllib.request.Request(base + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=str(broker.tls.ca_cert))
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return json.loads(response.read())


def start_failure(transport: dict[str, Any]) -> BaseException:
    """The error a worker on `transport` fails to start with."""
    worker = InfiniticWorker.from_config({"name": "refused", "transport": transport})
    try:
        with pytest.raises(PulsarConnectionError) as caught:
            worker.start()
    finally:
        worker.close()
    return caught.value


def test_a_workflow_runs_over_tls_with_a_token(secure_broker: SecureBroker) -> None:
    for base in (secure_broker.plain_admin_url, secure_broker.admin_url):
        with pytest.raises(urllib.error.HTTPError) as refused:  # no token: no access
            admin_get(secure_broker, base, "/admin/v2/tenants", None)
        assert refused.value.code == 401
        # it holds the response open (over TLS, an SSL socket): closed here, not whenever the
        # collector gets to it (a ResourceWarning in whichever test runs then)
        refused.value.close()
    transport = secure_broker.transport()
    options = transport["pulsar"]
    with InfiniticWorker.from_config(config(transport=transport)) as worker:
        client = worker.client
        assert client.new_service(s.EchoService).echo("over TLS") == "over TLS"
        flow = client.new_workflow(sw.BasicWorkflow)
        assert flow.sequential(4) == 6
        handles = [client.dispatch(flow.parallel, 3) for _ in range(5)]
        assert [h.result(timeout=WAIT) for h in handles] == [[0, 2, 4]] * 5
    # the worker created its namespace through the https admin API, with the token
    path = f"/admin/v2/namespaces/{options['tenant']}"
    namespaces = admin_get(secure_broker, secure_broker.admin_url, path, secure_broker.token)
    assert f"{options['tenant']}/{options['namespace']}" in namespaces


@pytest.mark.parametrize("path", ["admin", "binary"])
@pytest.mark.parametrize("token", ["wrong", "missing"])
def test_a_wrong_or_missing_token_is_refused_clearly(
    secure_broker: SecureBroker, path: str, token: str
) -> None:
    authentication = {"token": secure_broker.wrong_token} if token == "wrong" else None
    overrides: dict[str, Any] = {"client": {"authentication": authentication}}
    if path == "binary":  # no admin URL: only the binary protocol tells
        overrides |= {"webServiceUrl": None, "createTenantAndNamespace": False}
        overrides["client"]["operationTimeoutSeconds"] = 2
    error = start_failure(secure_broker.transport(**overrides))
    text = str(error)
    assert isinstance(error, PulsarAuthenticationError), text
    assert "authentication failed" in text
    assert (secure_broker.admin_url if path == "admin" else secure_broker.url) in text
    assert secure_broker.wrong_token not in text + repr(error)


@pytest.mark.parametrize("path", ["admin", "binary"])
def test_an_untrusted_broker_certificate_is_refused_clearly(
    secure_broker: SecureBroker, path: str
) -> None:
    overrides: dict[str, Any] = {"client": {"tlsTrustCertsFilePath": str(secure_broker.other_ca)}}
    if path == "binary":
        overrides |= {"webServiceUrl": None, "createTenantAndNamespace": False}
    error = start_failure(secure_broker.transport(**overrides))
    text = str(error)
    assert isinstance(error, PulsarTlsError), text
    assert "not trusted" in text and "tlsTrustCertsFilePath" in text
    assert (secure_broker.admin_url if path == "admin" else secure_broker.url) in text
    assert secure_broker.token not in text + repr(error)


def test_plain_protocol_on_the_tls_port_is_refused_clearly(secure_broker: SecureBroker) -> None:
    overrides: dict[str, Any] = {
        "brokerServiceUrl": secure_broker.url.replace("pulsar+ssl://", "pulsar://"),
        "webServiceUrl": None,
        "createTenantAndNamespace": False,
        "client": {"operationTimeoutSeconds": 2},
    }
    error = start_failure(secure_broker.transport(**overrides))
    assert "pulsar+ssl://" in str(error) and "handshake" in str(error)


# --- no secret in any log line, error or repr ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_worker(worker_config: dict[str, Any]) -> None:
    worker = InfiniticWorker.from_config(worker_config)
    try:
        worker.start()
    finally:
        worker.close()


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter()
    texts = []
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += formatter.formatException(record.exc_info)
        texts.append(text + (record.exc_text or "") + (record.stack_info or ""))
    return texts


def test_no_secret_in_logs_errors_or_reprs(
    secure_broker: SecureBroker,
    redis_server_factory: RedisServerFactory,
    mysql_server: Server,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    if not isinstance(mysql_server, MariaDBServer):
        pytest.skip("adding a MySQL user needs the local MariaDB (not INFINITIC_MYSQL_URL)")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=CLIENT_LOGGER)  # the C++ client's own lines too
    redis_password, mysql_password = unique_secret("redis-pw"), unique_secret("mysql-pw")
    wrong_redis, wrong_mysql = unique_secret("wrong-redis-pw"), unique_secret("wrong-mysql-pw")
    token = secure_broker.token
    secrets = {
        "pulsar token": token,
        "pulsar token signature": token.rsplit(".", 1)[1],
        "wrong pulsar token": secure_broker.wrong_token,
        "redis password": redis_password,
        "wrong redis password": wrong_redis,
        "mysql password": mysql_password,
        "wrong mysql password": wrong_mysql,
    }
    redis = redis_server_factory(
        username="app", password=redis_password, tls=make_tls(tmp_path / "redis-tls")
    )
    redis_storage = {
        "redis": {
            "host": redis.host,
            "port": redis.port,
            "username": "app",
            "password": redis_password,
            "ssl": True,
            "sslCaCerts": str(redis.tls.ca_cert),
        }
    }
    user = f"scan_{uuid.uuid4().hex[:8]}"
    shown: list[str] = []  # reprs and error texts
    with mysql_server.add_user(user, mysql_password).fresh_database() as endpoint:
        mysql_storage = {"mysql": endpoint.options(retryTimeoutSeconds=0.5, timeoutSeconds=2)}
        # workflows on Pulsar over TLS with the token, state in Redis; then in MySQL
        for transport, storage in (
            (secure_broker.transport(), redis_storage),
            ("inMemory", mysql_storage),
        ):
            with InfiniticWorker.from_config(config(storage, transport)) as worker:
                flow = worker.client.new_workflow(sw.BasicWorkflow)
                assert flow.sequential(3) == 3
                assert worker.client.new_service(s.EchoService).echo("e") == "e"
                shown += [repr(worker), repr(worker.config), str(worker.config)]
                shown += [repr(worker.transport), repr(worker._storage)]

        # failures: wrong credentials, unreachable servers, bad configs
        failures: list[BaseException] = []

        def expect(kind: type[BaseException], worker_config: dict[str, Any]) -> None:
            with pytest.raises(kind) as caught:
                start_worker(worker_config)
            failures.append(caught.value)

        wrong_token = {"authentication": {"token": secure_broker.wrong_token}}
        expect(
            PulsarAuthenticationError, {"transport": secure_broker.transport(client=wrong_token)}
        )
        binary_only = {"webServiceUrl": None, "createTenantAndNamespace": False}
        quick = {**wrong_token, "operationTimeoutSeconds": 2}
        expect(
            PulsarAuthenticationError,
            {"transport": secure_broker.transport(client=quick, **binary_only)},
        )
        nowhere = f"pulsar+ssl://127.0.0.1:{free_port()}"
        expect(
            PulsarConnectionError,
            {
                "transport": secure_broker.transport(
                    brokerServiceUrl=nowhere, client={"operationTimeoutSeconds": 2}, **binary_only
                )
            },
        )
        expect(
            PulsarConnectionError,
            {
                "transport": secure_broker.transport(
                    webServiceUrl=f"https://127.0.0.1:{free_port()}"
                )
            },
        )
        expect(
            ConfigError,
            {
                "transport": secure_broker.transport(
                    client={"authentication": {"token": token, "oauth2": {}}}
                )
            },
        )
        redis_options = redis_storage["redis"]
        for options in ({"password": wrong_redis}, {"port": free_port(), "retrySeconds": 0}):
            expect(StorageError, config({"redis": {**redis_options, **options}}))
        expect(ConfigError, config({"redis": {**redis_options, "password": [redis_password]}}))
        url = f"redis://app:{redis_password}@127.0.0.1:{redis.port}/0"
        expect(ConfigError, config({"redis": {"url": url, "host": "elsewhere"}}))
        expect(ConfigError, {"storage": url})  # a URL where a backend name goes
        for options in ({"password": wrong_mysql}, {"port": free_port()}):
            expect(StorageError, config({"mysql": {**mysql_storage["mysql"], **options}}))
        expect(ConfigError, config({"mysql": {**mysql_storage["mysql"], "prt": 1}}))

    assert len(failures) == 13
    texts = shown + record_texts(caplog.records)
    for failure in failures:
        texts += [str(failure), repr(failure), "".join(traceback.format_exception(failure))]
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    # the scan saw what it is meant to: records of infinitic and lines of the Pulsar client.
    # The C++ client keeps the first logger a process gave it: ours when this test runs first
    # (CLIENT_LOGGER enabled at DEBUG), else the console (Warn), which capfd holds.
    names = {record.name for record in caplog.records}
    assert "infinitic.worker" in names and "infinitic.storage.redis" in names, sorted(names)
    console = re.search(r"Client(Impl|Connection)", captured.out + captured.err)
    assert CLIENT_LOGGER in names or console, sorted(names)
    print(f"scanned {len(caplog.records)} log records, {len(failures)} errors, {len(texts)} texts")
    for what, secret in secrets.items():
        for text in texts:
            if secret in text:
                pytest.fail(f"the {what} appears in: {text.replace(secret, '<SECRET>')[:2000]}")
