"""Secrets in a config stay out of its repr and of config errors; the Pulsar probe decodes a
broker's answer defensively. No server needed."""

from __future__ import annotations

import socket
import struct

import pytest

from infinitic.config import load_config
from infinitic.errors import ConfigError
from infinitic.transport.pulsar import probe
from infinitic.transport.pulsar.settings import PulsarSettings
from tests.faults.security_material import unique_secret


def test_the_config_repr_masks_tokens_passwords_and_url_passwords() -> None:
    token, password, in_url = (unique_secret(x) for x in ("token", "password", "url-password"))
    oauth_key = unique_secret("oauth-key")
    config = load_config(
        {
            "transport": {
                "pulsar": {
                    "brokerServiceUrl": "pulsar+ssl://broker:6651",
                    "client": {"authentication": {"token": token}},
                }
            },
            "storage": {"redis": {"url": f"redis://app:{in_url}@cache:6379/0"}},
        }
    )
    other = load_config({"storage": {"mysql": {"password": password, "database": "d"}}})
    oauth = {"oauth2": {"issuerUrl": "https://id", "privateKey": oauth_key}}
    settings = PulsarSettings.from_options(
        {"brokerServiceUrl": "pulsar://b:6650", "client": {"authentication": oauth}}
    )
    shown = repr(config) + str(config) + repr(other) + repr(settings)
    for secret in (token, password, in_url, oauth_key):
        assert secret not in shown
    assert "redis://app:***@cache:6379/0" in repr(config)  # still says where
    assert "'password': '***'" in repr(other)
    assert settings.oauth2 is not None and settings.oauth2["privateKey"] == oauth_key  # kept


@pytest.mark.parametrize(
    "storage",
    [
        "redis://app:{secret}@cache:6379/0",  # a URL where a backend name goes
        {"redis": "rediss://:{secret}@cache:6380"},  # a URL where the options go
    ],
)
def test_config_errors_do_not_show_a_url_password(storage: object) -> None:
    secret = unique_secret("url-password")
    value = (
        storage.format(secret=secret)
        if isinstance(storage, str)
        else {k: v.format(secret=secret) for k, v in storage.items()}  # type: ignore[attr-defined]
    )
    with pytest.raises(ConfigError) as caught:
        load_config({"storage": value})
    assert secret not in str(caught.value) and "***" in str(caught.value)


def answer(*frames: bytes) -> tuple[int, int, str]:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"".join(frames))
        left.shutdown(socket.SHUT_WR)
        right.settimeout(5)
        return probe._read_answer(right)


def frame(command: bytes) -> bytes:
    return struct.pack(">II", len(command) + 4, len(command)) + command


def test_the_probe_reads_a_broker_refusal_and_rejects_garbage() -> None:
    error = probe._field(1, 7) + probe._field(2, 3) + probe._field(3, b"Failed to authenticate")
    refused = frame(probe._field(1, 14) + probe._field(14, error))
    assert answer(refused) == (14, 3, "Failed to authenticate")
    assert answer(frame(probe._field(1, 3) + probe._field(3, probe._field(1, b"4.0"))))[0] == 3
    garbage = [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",  # not a frame: sizes out of bounds
        struct.pack(">II", 1 << 30, 10),  # a frame bigger than any CONNECT answer
        frame(b"\x0f"),  # an unknown wire type
        frame(probe._field(1, 14) + b"\x72\xff\xff"),  # a field longer than the frame
        b"\x00\x00",  # the connection closed mid-frame
    ]
    for data in garbage:
        with pytest.raises(ValueError):
            answer(data)
