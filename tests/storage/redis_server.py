"""A throwaway `redis-server` for the tests: free loopback port, temp dir, no persistence.

* `RedisServer.launch()` starts ``redis-server`` (Debian package ``redis-server``) on a free
  127.0.0.1 port with a temporary ``--dir`` and ``--save ''``, waits for PING, and `stop()` kills it.
  `restart(down_seconds)` saves the data (``SHUTDOWN SAVE``), stays down for a while, and starts
  again on the same port and directory, so clients see a real outage but no data loss.
* Options of `launch()`: ``password`` (``requirepass``), ``username`` with it (an ACL user, the
  default user switched off), ``tls`` (a `TlsFiles`-like object with ``cert``, ``key`` and
  ``ca_cert``: TLS only, no plain port). They go in a config file (mode 600), not the command line.
* With ``INFINITIC_REDIS_URL`` set (``redis://[user:password@]host:port/db``), that server is
  used instead (nothing is started or stopped, and `restart` is unavailable).
* Without the binary (and no URL), tests that use the fixtures are skipped, saying why; with
  ``INFINITIC_REQUIRE_SERVERS=1`` they fail instead.

Fixtures (registered in tests/storage/conftest.py): ``redis_server`` (one per session),
``redis_server_factory`` (fresh servers a test owns, e.g. to restart them).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

URL_VARIABLE = "INFINITIC_REDIS_URL"
REQUIRE_SERVERS = os.environ.get("INFINITIC_REQUIRE_SERVERS", "") not in ("", "0")
INSTALL_HINT = "install it with `apt-get install -y redis-server`, or set INFINITIC_REDIS_URL"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RedisServer:
    """One Redis server: started here (``owned``) or reached through INFINITIC_REDIS_URL."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        database: int = 0,
        directory: Path | None = None,
        tls: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.directory = directory
        self.tls = tls  # .cert, .key, .ca_cert (paths); None: plain TCP
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def owned(self) -> bool:
        return self.directory is not None

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str) -> RedisServer:
        parts = urlsplit(url)
        path = parts.path.strip("/")
        return cls(
            parts.hostname or "localhost",
            parts.port or 6379,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            database=int(path) if path else 0,
        )

    @classmethod
    def launch(
        cls, *, username: str | None = None, password: str | None = None, tls: Any = None
    ) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError(f"redis-server is not installed; {INSTALL_HINT}")
        if username is not None and password is None:
            raise ValueError("an ACL username needs a password")
        server = cls(
            "127.0.0.1",
            _free_port(),
            username=username,
            password=password,
            directory=Path(tempfile.mkdtemp(prefix="redis-")),
            tls=tls,
        )
        server._spawn()
        return server

    def _config_file(self) -> Path:
        """Credentials and TLS in a file of mode 600: a password never shows in `ps`."""
        assert self.directory is not None
        lines = []
        if self.username is not None:
            lines += ["user default off", f"user {self.username} on >{self.password} ~* &* +@all"]
        elif self.password is not None:
            lines.append(f"requirepass {self.password}")
        if self.tls is not None:
            lines += [
                f"tls-port {self.port}",
                "port 0",
                f"tls-cert-file {self.tls.cert}",
                f"tls-key-file {self.tls.key}",
                f"tls-ca-cert-file {self.tls.ca_cert}",
                "tls-auth-clients no",
            ]
        path = self.directory / "redis.conf"
        path.touch(mode=0o600)
        path.write_text("".join(f"{line}\n" for line in lines))
        return path

    def _spawn(self) -> None:
        assert self.directory is not None
        binary = shutil.which("redis-server") or "redis-server"
        self.log = self.directory / "redis.log"
        # fmt: off
        args = [
            binary, str(self._config_file()),
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--logfile", str(self.log), "--protected-mode", "no", "--databases", "16",
        ]
        # fmt: on
        if self.tls is not None:  # the file's "port 0" would be overridden by --port
            args[args.index("--port") + 1] = "0"
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        self.wait_ready()

    # --- raw protocol helpers (no client library needed) ------------------------------------

    def send(self, *args: str, timeout: float = 5.0) -> bytes:
        """Send one command (after AUTH/SELECT when configured); the raw first reply line."""
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.tls is not None:
            try:
                context = ssl.create_default_context(cafile=str(self.tls.ca_cert))
                raw = context.wrap_socket(raw, server_hostname=self.host)
            except BaseException:
                raw.close()
                raise
        with raw as sock:
            prelude = b""
            expected = 0
            if self.password is not None:
                auth = (self.username, self.password) if self.username else (self.password,)
                prelude += _command("AUTH", *auth)
                expected += 1
            if self.database:
                prelude += _command("SELECT", str(self.database))
                expected += 1
            sock.sendall(prelude + _command(*args))
            reply = b""
            while reply.count(b"\r\n") <= expected:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
            lines = reply.split(b"\r\n")
            return lines[expected] if len(lines) > expected else b""

    def ping(self) -> bool:
        try:
            return self.send("PING", timeout=1.0) == b"+PONG"
        except OSError:
            return False

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start:\n{self._log_tail()}")
            if self.ping():
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING in {timeout} s")

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-20:])
        except OSError:
            return "(no log)"

    @property
    def url(self) -> str:
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:{self.password}@"
        return f"redis://{auth}{self.host}:{self.port}/{self.database}"

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments of `RedisStorage` reaching this server."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "database": self.database,
        }
        if self.tls is not None:
            options |= {"ssl": True, "ssl_ca_certs": str(self.tls.ca_cert)}
        return options

    def storage_options_for_redis_py(self) -> dict[str, Any]:
        """Keyword arguments of `redis.Redis` (the tests' raw client) reaching this server."""
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "db": self.database,
            **({"ssl": True, "ssl_ca_certs": str(self.tls.ca_cert)} if self.tls else {}),
        }

    # --- lifecycle -------------------------------------------------------------------------

    def _halt(self, command: str) -> None:
        assert self.process is not None
        try:
            self.send(*command.split(), timeout=5.0)
        except OSError:
            pass  # the server closes the connection without a reply
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self, down_seconds: float = 0.0) -> None:
        """Save, stop, stay down `down_seconds`, start again on the same port and data."""
        if not self.owned:
            pytest.skip(f"cannot restart the external server of {URL_VARIABLE}")
        self._halt("SHUTDOWN SAVE")
        time.sleep(down_seconds)
        self._spawn()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self._halt("SHUTDOWN NOSAVE")
        self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason} (INFINITIC_REQUIRE_SERVERS=1)", pytrace=False)
    pytest.skip(reason)


def _check_client() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        _unavailable("the redis client is not installed: pip install 'infinitic[redis]'")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The session's Redis server (INFINITIC_REDIS_URL, else a throwaway redis-server)."""
    _check_client()
    url = os.environ.get(URL_VARIABLE)
    if url:
        server = RedisServer.from_url(url)
        if not server.ping():
            _unavailable(f"{URL_VARIABLE} is set but {server.host}:{server.port} does not answer")
        yield server
        return
    if shutil.which("redis-server") is None:
        _unavailable(f"redis-server is not installed; {INSTALL_HINT}")
    server = RedisServer.launch()
    try:
        yield server
    finally:
        server.stop()


class RedisServerFactory:
    """Starts servers that one test owns (and may restart); stops them at the end."""

    def __init__(self) -> None:
        self.servers: list[RedisServer] = []

    def __call__(
        self, *, username: str | None = None, password: str | None = None, tls: Any = None
    ) -> RedisServer:
        if shutil.which("redis-server") is None:
            _unavailable(f"redis-server is not installed; {INSTALL_HINT}")
        server = RedisServer.launch(username=username, password=password, tls=tls)
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def redis_server_factory() -> Iterator[RedisServerFactory]:
    """Fresh throwaway servers, even when INFINITIC_REDIS_URL is set (needs the binary)."""
    _check_client()
    factory = RedisServerFactory()
    try:
        yield factory
    finally:
        factory.close()
