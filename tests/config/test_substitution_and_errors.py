"""`${VAR}` / `${VAR:-default}` in a YAML config's values, and a config with several mistakes
reporting them all at once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from infinitic import ConfigError
from infinitic.config import load_config, load_config_file

SECRET = "s3cr3t-value-from-env"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "infinitic.yml"
    path.write_text(text)
    return path


def test_values_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_NAME", "billing")
    monkeypatch.setenv("REDIS_PASSWORD", SECRET)
    monkeypatch.setenv("REDIS_HOST", "10.0.0.7")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.delenv("WORKERS", raising=False)
    path = _write(
        tmp_path,
        "name: ${WORKER_NAME}-worker\n"
        "storage:\n"
        "  redis:\n"
        "    host: ${REDIS_HOST}\n"
        "    port: ${REDIS_PORT:-6379}\n"
        "    password: ${REDIS_PASSWORD}\n"
        "    keyPrefix: '$${literal}:${EMPTY:-infinitic}:'\n"
        "services:\n"
        "  - name: Echo\n"
        "    concurrency: ${WORKERS:-4}\n",
    )
    config = load_config_file(path)
    assert config.name == "billing-worker"
    assert config.storage_options == {
        "host": "10.0.0.7",
        "port": 6379,  # a whole-value reference takes the YAML type of its text
        "password": SECRET,
        "keyPrefix": "${literal}:infinitic:",
    }
    assert config.services[0].concurrency == 4
    assert SECRET not in repr(config)


def test_a_secret_stays_a_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIN", "1234")
    path = _write(tmp_path, "storage:\n  redis:\n    password: ${PIN}\n    database: ${PIN}\n")
    assert load_config_file(path).storage_options == {"password": "1234", "database": 1234}


def test_an_unset_variable_names_the_key_and_the_variable_never_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MISSING_TOKEN", raising=False)
    monkeypatch.setenv("REDIS_PASSWORD", SECRET)
    path = _write(
        tmp_path,
        "name: ${REDIS_PASSWORD}x\n"
        "transport:\n  pulsar:\n    client:\n      authentication: {token: '${MISSING_TOKEN}'}\n"
        "concurrency: 3\n",
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = str(info.value)
    assert (
        f"{path}: transport.pulsar.client.authentication.token: environment variable "
        "MISSING_TOKEN is not set" in message
    )
    assert SECRET not in message and SECRET not in caplog.text


def test_a_malformed_reference_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: ${not a name}\n")
    with pytest.raises(ConfigError, match="name: a '\\$\\{' that is not a reference"):
        load_config_file(path)


def test_every_error_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "nmae: w\n"
        "transport: kafka\n"
        "services:\n"
        "  - name: Echo\n"
        "    concurrency: many\n"
        "    retry: {randomFactor: 2, maxRetries: 1}\n"
        "  - class: a.B\n"
        "workflows:\n"
        "  - name: W\n"
        "    checkMode: loose\n"
        "    retentionSeconds: -1\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    errors = info.value.errors
    expected = [
        "nmae: unknown key; did you mean 'name'?",
        "transport: unknown transport 'kafka'",
        "services[0].concurrency: expected an integer, got 'many'",
        "services[0].retry.maxRetries: unknown key; did you mean 'maximumRetries'?",
        "services[0].retry: retry.randomFactor (2.0) must be between 0 and 1",
        "services[1].name: missing",
        "workflows[0].checkMode: must be one of",
        "workflows[0].retentionSeconds: must be greater than 0",
    ]
    assert len(errors) == len(expected), errors
    for fragment in expected:
        assert any(e.startswith(f"{path}: {fragment}") for e in errors), (fragment, errors)
    message = str(info.value)
    assert message.startswith(f"{path}: 8 errors\n")
    assert all(f"  {e.removeprefix(f'{path}: ')}" in message for e in errors)


def test_a_single_error_reads_as_before() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"services": [{"name": "A", "concurrency": 0}]}, source="my.yml")
    assert str(info.value) == "my.yml: services[0].concurrency: must be greater than 0, got 0"
    assert info.value.errors == [str(info.value)]
