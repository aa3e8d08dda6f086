"""Why a broker does not answer: run only after the Pulsar client failed to connect.

The C++ client reports a refused token as a plain timeout (it retries the connection until
`operationTimeoutSeconds`), and a certificate it does not trust as "ConnectError". To say
which, this opens one connection itself: TCP, then the TLS handshake with the same trust
settings, then the binary protocol's CONNECT carrying the same token, and reads the broker's
answer (CONNECTED, or ERROR with the broker's reason). Only this one command is encoded and
only the fields needed to classify the answer are decoded, defensively and with a size bound.
"""

from __future__ import annotations

import socket
import ssl
import struct
from urllib.parse import urlsplit

from .errors import PulsarAuthenticationError, PulsarConnectionError, PulsarTlsError
from .settings import PulsarSettings

_CONNECT, _CONNECTED, _ERROR = 2, 3, 14  # BaseCommand.Type, also the fields carrying each
_AUTHENTICATION_ERROR, _AUTHORIZATION_ERROR = 3, 4  # ServerError
_PROTOCOL_VERSION = 6
_MAX_FRAME = 1 << 16  # an answer to CONNECT is a few hundred bytes


def diagnose(settings: PulsarSettings, timeout: float) -> PulsarConnectionError:
    """The error that explains why `settings.broker_service_url` cannot be used."""
    url = settings.broker_service_url
    first = url.split("://", 1)[1].split(",")[0]
    parts = urlsplit(f"//{first}")
    tls = url.startswith("pulsar+ssl://")
    host, port = parts.hostname or "localhost", parts.port or (6651 if tls else 6650)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return PulsarConnectionError(
            f"pulsar broker {url}: cannot connect to {host}:{port} "
            f"({exc.strerror or type(exc).__name__}); is it running, and is "
            "transport.pulsar.brokerServiceUrl right?"
        )
    stream: socket.socket = sock
    try:
        sock.settimeout(timeout)
        if tls:
            try:
                stream = settings.ssl_context().wrap_socket(sock, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                return PulsarTlsError(
                    f"pulsar broker {url}: TLS failed: its certificate is not trusted "
                    f"({exc.verify_message}); check transport.pulsar.client."
                    "tlsTrustCertsFilePath (the CA that signed the broker's certificate)"
                )
            except (ssl.SSLError, OSError) as exc:
                return PulsarTlsError(
                    f"pulsar broker {url}: TLS handshake failed ({exc}); is the port a TLS "
                    "port, and are transport.pulsar.client.tls* right?"
                )
        try:
            stream.sendall(_connect_frame(settings.token))
            kind, code, message = _read_answer(stream)
        except (OSError, ValueError) as exc:
            return PulsarConnectionError(
                f"pulsar broker {url}: the connection was accepted but the broker did not "
                f"answer the protocol handshake ({type(exc).__name__}: {exc}); is it a Pulsar "
                "binary port (pulsar+ssl:// for a TLS port)?"
            )
    finally:
        stream.close()
        sock.close()
    if settings.token:
        message = message.replace(settings.token, "***")
    if kind == _ERROR and code in (_AUTHENTICATION_ERROR, _AUTHORIZATION_ERROR):
        return PulsarAuthenticationError(
            f"pulsar broker {url}: authentication failed: the broker refused the credentials "
            f"({message or 'no reason given'}); check transport.pulsar.client.authentication"
        )
    if kind == _ERROR:
        return PulsarConnectionError(
            f"pulsar broker {url}: the broker refused the connection (error {code}: {message})"
        )
    return PulsarConnectionError(
        f"pulsar broker {url}: the broker accepts connections but did not answer in time; "
        "is it overloaded, or is transport.pulsar.client.operationTimeoutSeconds too short?"
    )


# --- the protobuf subset: varints, length-delimited fields -----------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _connect_frame(token: str | None) -> bytes:
    connect = _field(1, b"infinitic-probe") + _field(4, _PROTOCOL_VERSION)
    if token:
        connect += _field(5, b"token") + _field(3, token.encode())
    command = _field(1, _CONNECT) + _field(_CONNECT, connect)
    return struct.pack(">II", len(command) + 4, len(command)) + command


def _read_exact(stream: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = stream.recv(size - len(data))
        if not chunk:
            raise ValueError("the broker closed the connection")
        data += chunk
    return bytes(data)


def _fields(data: bytes) -> dict[int, int | bytes]:
    """The last value of each field of one protobuf message (unknown wire types: an error)."""
    out: dict[int, int | bytes] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        result = shift = 0
        while True:
            if i >= len(data) or shift > 63:
                raise ValueError("truncated varint")
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number] = varint()
        elif wire == 2:
            size = varint()
            if i + size > len(data):
                raise ValueError("truncated field")
            out[number] = data[i : i + size]
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return out


def _read_answer(stream: socket.socket) -> tuple[int, int, str]:
    """(command type, server error code, error message) of the broker's first frame."""
    total, size = struct.unpack(">II", _read_exact(stream, 8))
    if not 0 < size <= total - 4 < _MAX_FRAME:
        raise ValueError(f"not a Pulsar frame (sizes {total}/{size})")
    command = _fields(_read_exact(stream, total - 4)[:size])
    kind = command.get(1)
    if not isinstance(kind, int):
        raise ValueError("a frame without a command type")
    code, message = -1, ""
    body = command.get(_ERROR)
    if kind == _ERROR and isinstance(body, bytes):
        error = _fields(body)
        raw_code, raw_message = error.get(2), error.get(3)
        code = raw_code if isinstance(raw_code, int) else -1
        message = raw_message.decode(errors="replace") if isinstance(raw_message, bytes) else ""
    return kind, code, message[:500]
