"""Who serves a SQLite state file: one process on the in-memory transport, or any number on a
transport that crosses processes (sqlite, pulsar). Never both, never two of the first kind.

An advisory lock (flock) on `<state file>-infinitic.lock`: exclusive for a worker on the
in-memory transport, shared otherwise. The kernel drops it when the process dies, kill -9
included, so a crashed worker never blocks the next start. The exclusive holder writes its pid
in the file, so the refusal can name it. Workers of one process share their lock.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from ...errors import ConfigError

try:
    import fcntl

    HAVE_FLOCK = True
except ImportError:  # pragma: no cover - Windows: no advisory lock, no check
    HAVE_FLOCK = False

_lock = threading.Lock()
_held: dict[str, _Held] = {}


@dataclass
class _Held:
    fd: int
    exclusive: bool
    users: int


def lock_path(state_path: str) -> str:
    return f"{os.path.abspath(os.path.expanduser(state_path))}-infinitic.lock"


def _fix(path: str) -> str:
    return (
        f"use `transport: sqlite` in the config of every process on {path} (the same file "
        "then carries the messages between the processes of this machine), or Pulsar across "
        "machines"
    )


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


def acquire(state_path: str, *, in_memory_transport: bool) -> str:
    """Takes the lock of `state_path` for this process; returns the key to `release` it.
    Raises ConfigError when the file is served in a way this process cannot join."""
    path = lock_path(state_path)
    with _lock:
        held = _held.get(path)
        if held is not None:
            held.users += 1
            return path
        if not HAVE_FLOCK:
            return path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        mode = fcntl.LOCK_EX if in_memory_transport else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(fd)
            os.close(fd)
            state = os.path.abspath(state_path)
            if in_memory_transport:
                raise ConfigError(
                    f"storage.sqlite.path: {state} is already served by {who}; a worker on the "
                    "in-memory transport reaches only its own process, so a second one would "
                    f"run tasks twice and its clients would wait forever: {_fix(state)}"
                ) from None
            raise ConfigError(
                f"storage.sqlite.path: {state} is served by {who}, a worker on the in-memory "
                f"transport, which no other process can reach: stop it, then {_fix(state)}"
            ) from None
        if in_memory_transport:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        _held[path] = _Held(fd, in_memory_transport, 1)
        return path


def release(key: str) -> None:
    with _lock:
        held = _held.get(key)
        if held is None:
            return
        held.users -= 1
        if held.users > 0:
            return
        del _held[key]
        if held.exclusive:
            os.ftruncate(held.fd, 0)
        os.close(held.fd)  # closing the descriptor drops the flock


def check_reachable(state_path: str) -> None:
    """For a client on the in-memory transport: raises ConfigError when a worker of another
    process serves `state_path` (this client could never reach it)."""
    path = lock_path(state_path)
    with _lock:
        if path in _held or not HAVE_FLOCK or not os.path.exists(path):
            return
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(fd)
            state = os.path.abspath(state_path)
            raise ConfigError(
                f"transport: inMemory cannot reach the worker of {state} ({who}): the "
                f"in-memory transport works inside one process; {_fix(state)}"
            ) from None
        finally:
            os.close(fd)
