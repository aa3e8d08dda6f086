"""A throwaway MariaDB (or MySQL) server for the tests and benchmarks.

`MariaDBServer` initializes a temporary data directory with ``mariadb-install-db`` (or
``mysql_install_db``), runs ``mariadbd`` (or ``mysqld``) as a child process (not a daemon) on a
free loopback port and its own unix socket, with a small memory footprint, creates a database
and a user with a password, and waits until it accepts connections. `restart()` stops it and
starts it again on the same port and data. `stop()` ends it and removes the data.

When ``INFINITIC_MYSQL_URL`` (``mysql://user:password@host:port/database``) is set, that
server is used instead (`ExternalServer`: no restart). `find_server()` says which one can be
had, or why none (binaries or mysqlclient missing).

Run it alone to get a server for manual checks: ``python -m tests.storage.mysql_server``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

URL_VARIABLE = "INFINITIC_MYSQL_URL"
REQUIRE_VARIABLE = "INFINITIC_REQUIRE_SERVERS"
APT_HINT = "apt-get install -y mariadb-server libmariadb-dev pkg-config && pip install mysqlclient"

USER = "infinitic"
PASSWORD = "s3cret-Pa55word"
DATABASE = "infinitic_test"
MAX_ALLOWED_PACKET = 16 * 1024 * 1024


def require_servers() -> bool:
    return os.environ.get(REQUIRE_VARIABLE, "") not in ("", "0")


def _which(*names: str) -> str | None:
    for name in names:
        for directory in (None, "/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"):
            found = shutil.which(name, path=directory) if directory else shutil.which(name)
            if found:
                return found
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Endpoint:
    """Where to connect, and as whom."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def options(self, **extra: Any) -> dict[str, Any]:
        """The ``storage: {mysql: ...}`` options for this endpoint."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            **extra,
        }

    def connect(self, database: str | None = None) -> Any:
        import MySQLdb

        return MySQLdb.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database if database is not None else self.database,
            autocommit=True,
            connect_timeout=10,
        )

    def execute(self, *statements: str, database: str | None = None) -> list[Any]:
        """Run statements on a fresh connection; the rows of the last one."""
        conn = self.connect(database)
        try:
            cursor = conn.cursor()
            rows: list[Any] = []
            for statement in statements:
                cursor.execute(statement)
                rows = list(cursor.fetchall())
            cursor.close()
            return rows
        finally:
            conn.close()

    @contextmanager
    def fresh_database(self) -> Iterator[Endpoint]:
        """A new empty database (dropped afterwards), as an endpoint."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            yield Endpoint(self.host, self.port, self.user, self.password, name)
        finally:
            try:
                self.execute(f"DROP DATABASE IF EXISTS `{name}`", database="")
            except Exception:  # the server may be gone: its data dir is dropped anyway
                pass


class ExternalServer:
    """A server given by ``INFINITIC_MYSQL_URL``: used as is, never restarted."""

    can_restart = False

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("mysql", "mariadb"):
            raise ValueError(f"{URL_VARIABLE} must look like mysql://user:password@host:port/db")
        self.endpoint = Endpoint(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 3306,
            user=urllib.parse.unquote(parsed.username or "root"),
            password=urllib.parse.unquote(parsed.password or ""),
            database=parsed.path.lstrip("/") or DATABASE,
        )

    def start(self) -> ExternalServer:
        return self

    def stop(self) -> None:
        pass

    def restart(self, *, kill: bool = False, down_seconds: float = 0.0) -> None:
        raise RuntimeError(f"cannot restart the server of {URL_VARIABLE}")


@dataclass
class MariaDBServer:
    """A private server on a free loopback port, with its data in a temporary directory."""

    server_binary: str
    install_binary: str
    buffer_pool: str = "64M"
    flush_at_commit: int = 1  # innodb_flush_log_at_trx_commit: 1 = durable commits
    port: int = 0
    base: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    endpoint: Endpoint = field(init=False)
    can_restart = True

    @property
    def datadir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    @property
    def socket_path(self) -> str:
        assert self.base is not None
        return str(self.base / "mysqld.sock")

    def start(self) -> MariaDBServer:
        self.base = Path(tempfile.mkdtemp(prefix="infinitic-mariadb-"))
        self.port = free_port()
        try:
            self._install()
            self._launch()
            self._bootstrap()
        except BaseException:
            self.stop()
            raise
        return self

    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def _install(self) -> None:
        command = [
            self.install_binary,
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            *self._user_args(),
        ]
        if "mysqld" in os.path.basename(self.install_binary):  # MySQL's `mysqld --initialize`
            command = [self.install_binary, "--no-defaults", "--initialize-insecure"]
            command += [f"--datadir={self.datadir}", *self._user_args()]
        result = subprocess.run(command, capture_output=True, timeout=180)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{output}")

    def _launch(self) -> None:
        assert self.base is not None
        command = [
            self.server_binary,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.socket_path}",
            f"--pid-file={self.base / 'mysqld.pid'}",
            f"--log-error={self.base / 'error.log'}",
            f"--tmpdir={self.base}",
            f"--innodb-buffer-pool-size={self.buffer_pool}",
            "--innodb-log-buffer-size=8M",
            f"--innodb-flush-log-at-trx-commit={self.flush_at_commit}",
            f"--max-allowed-packet={MAX_ALLOWED_PACKET}",
            "--max-connections=200",
            "--performance-schema=OFF",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--key-buffer-size=1M",
            "--table-open-cache=200",
            "--thread-cache-size=8",
            *self._user_args(),
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a ^C in the terminal does not reach it first
        )
        self._wait_ready()

    def _error_log(self) -> str:
        assert self.base is not None
        try:
            return (self.base / "error.log").read_text(errors="replace")[-3000:]
        except OSError:
            return "(no error log)"

    def _admin(self) -> Any:
        import MySQLdb

        return MySQLdb.connect(unix_socket=self.socket_path, user="root", connect_timeout=5)

    def _wait_ready(self, timeout: float = 90.0) -> None:
        import MySQLdb

        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mariadbd exited with {self.process.returncode}:\n{self._error_log()}"
                )
            try:
                self._admin().close()
                return
            except MySQLdb.Error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"mariadbd not ready after {timeout}s:\n{self._error_log()}"
                    ) from None
                time.sleep(0.1)

    def _bootstrap(self) -> None:
        conn = self._admin()
        try:
            cursor = conn.cursor()
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4")
            for host in ("127.0.0.1", "localhost"):
                cursor.execute(f"CREATE USER '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}'")
                # global privileges: tests create a database each and see "unknown database"
                cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'{host}'")
            cursor.close()
        finally:
            conn.close()
        self.endpoint = Endpoint("127.0.0.1", self.port, USER, PASSWORD, DATABASE)

    def add_user(self, user: str, password: str) -> Endpoint:
        """Another user with its own password (all privileges), as an endpoint on the test
        database: for tests of credentials (a secret of their own, a wrong password)."""
        conn = self._admin()
        try:
            cursor = conn.cursor()
            for host in ("127.0.0.1", "localhost"):
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
                cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'{host}'")
            cursor.close()
        finally:
            conn.close()
        return Endpoint("127.0.0.1", self.port, user, password, DATABASE)

    def _terminate(self, kill: bool) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self, *, kill: bool = False, down_seconds: float = 0.0) -> None:
        """Stop the server (SIGTERM, or SIGKILL: a crash) and start it again, same port/data."""
        self._terminate(kill)
        if down_seconds:
            time.sleep(down_seconds)
        self._launch()

    def crash(self) -> None:
        """Kill the server (SIGKILL) and leave it down; `resume()` starts it again."""
        self._terminate(kill=True)

    def resume(self) -> None:
        """Start the server again after `crash()`, on the same port and data."""
        self._launch()

    def stop(self) -> None:
        self._terminate(kill=False)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None


Server = MariaDBServer | ExternalServer


def find_server() -> tuple[Server | None, str]:
    """A server to start (not started yet), or None and why not."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        return None, f"mysqlclient is not installed ({APT_HINT})"
    url = os.environ.get(URL_VARIABLE)
    if url:
        return ExternalServer(url), ""
    server = _which("mariadbd", "mysqld")
    install = _which("mariadb-install-db", "mysql_install_db")
    if server is None or install is None:
        return None, (
            f"no MariaDB binaries (mariadbd, mariadb-install-db) and {URL_VARIABLE} is not set; "
            f"install them with `{APT_HINT}`"
        )
    return MariaDBServer(server, install), ""


if __name__ == "__main__":
    found, why = find_server()
    if found is None:
        raise SystemExit(why)

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    found.start()
    e = found.endpoint
    print(
        f"mysql://{e.user}:{e.password}@{e.host}:{e.port}/{e.database}  (^C or SIGTERM stops it)",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        found.stop()
