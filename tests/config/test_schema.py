"""`infinitic config schema`: a valid JSON Schema that accepts the configs the loader accepts,
refuses the mistakes it refuses, and lists exactly the keys the loader and backends know."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from infinitic import ConfigError
from infinitic.cli import main
from infinitic.config import load_config, loader
from infinitic.config.schema import config_schema
from infinitic.transport.pulsar.settings import PulsarSettings

jsonschema = pytest.importorskip("jsonschema")

FULL = """
name: billing-worker
transport:
  pulsar:
    brokerServiceUrl: pulsar://127.0.0.1:6650
    webServiceUrl: http://127.0.0.1:8080
    tenant: infinitic
    namespace: prod
    client:
      authentication: {token: "${PULSAR_TOKEN}"}
      tlsTrustCertsFilePath: /etc/ssl/ca.pem
    consumer: {receiverQueueSize: 1000}
storage:
  redis: {host: 127.0.0.1, port: "${REDIS_PORT:-6379}", password: "${REDIS_PASSWORD}"}
maxPayloadBytes: 1048576
services:
  - name: Echo
    class: tests.sample_services.EchoServiceImpl
    concurrency: 8
    timeoutInSeconds: 30
    retry: {minimumSeconds: 1, maximumRetries: 3, ignoredExceptions: [KeyError]}
workflows:
  - name: BookingWorkflow
    class: booking.BookingWorkflowImpl
    checkMode: strict
    retentionSeconds: 3600
eventListener:
  class: audit.Listener
  concurrency: 2
  services: {allow: [Echo], disallow: [Noisy]}
metrics: {prometheus: {host: 0.0.0.0, port: 9464}}
"""


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    "config",
    [
        yaml.safe_load(FULL),
        {},
        {"storage": "inMemory", "transport": {"inMemory": {"channel": "t"}}},
        {"storage": {"sqlite": {"path": "x.db", "synchronous": "FULL", "compression": "zlib"}}},
        {"storage": {"mysql": {"host": "db", "user": "u", "password": "p", "database": "d"}}},
        {"services": [{"name": "A", "concurrency": "${WORKERS:-4}"}]},
    ],
)
def test_accepted_configs_validate(validator: Any, config: dict[str, Any]) -> None:
    assert list(validator.iter_errors(config)) == []


@pytest.mark.parametrize(
    "config",
    [
        {"nmae": "x"},
        {"transport": "kafka"},
        {"storage": {"sqlite": {}, "redis": {}}},
        {"services": [{"class": "a.B"}]},
        {"services": [{"name": "A", "concurency": 2}]},
        {"services": [{"name": "A", "concurrency": 0}]},
        {"services": [{"name": "A", "concurrency": "4"}]},
        {"services": [{"name": "A", "retry": {"maxRetries": 1}}]},
        {"workflows": [{"name": "W", "checkMode": "loose"}]},
        {"transport": {"pulsar": {"tenant": "t"}}},
    ],
)
def test_mistakes_the_loader_refuses_are_refused(validator: Any, config: dict[str, Any]) -> None:
    assert list(validator.iter_errors(config)) != []
    with pytest.raises(ConfigError):  # infinitic refuses it too
        loaded = load_config(config)
        if loaded.transport == "pulsar":
            PulsarSettings.from_options(loaded.transport_options)


def _keys(node: dict[str, Any]) -> set[str]:
    return set(node["properties"])


def _option_keys(schema: dict[str, Any], section: str, backend: str) -> set[str]:
    for choice in schema["properties"][section]["oneOf"]:
        if backend in choice.get("properties", {}):
            return _keys(choice["properties"][backend])
    raise AssertionError(backend)


def test_the_keys_are_the_loaders_and_the_backends() -> None:
    schema = config_schema()
    top = schema["properties"]
    assert _keys(schema) == loader._TOP
    assert _keys(top["services"]["items"]) == loader._SERVICE
    assert _keys(top["workflows"]["items"]) == loader._WORKFLOW
    assert _keys(top["services"]["items"]["properties"]["retry"]) == set(loader._RETRY)

    from infinitic.storage import factory, mysql, redis
    from infinitic.transport.pulsar import settings

    camel = re.compile(r"^[a-z]+([A-Z][a-z]*)*$")
    compression = {"compression"}
    assert _option_keys(schema, "storage", "sqlite") == compression | {
        k for k in factory._SQLITE_OPTIONS.accepted if camel.match(k)
    }
    assert _option_keys(schema, "storage", "redis") == compression | set(redis._OPTIONS.listed)
    assert _option_keys(schema, "storage", "mysql") == compression | {
        k for k in mysql._options._OPTIONS.accepted if camel.match(k)
    }
    from infinitic.transport.sqlite import settings as sqlite_settings

    assert _option_keys(schema, "transport", "sqlite") == sqlite_settings._KEYS
    pulsar = next(
        c["properties"]["pulsar"]
        for c in top["transport"]["oneOf"]
        if "pulsar" in c.get("properties", {})
    )
    assert _keys(pulsar) == settings._TOP
    for block, keys in (
        ("client", settings._CLIENT),
        ("producer", settings._PRODUCER),
        ("consumer", settings._CONSUMER),
    ):
        assert _keys(pulsar["properties"][block]) == keys


def test_the_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == config_schema()
