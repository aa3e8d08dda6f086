"""Wakes an idle process when another one writes the file: inotify on Linux, else nothing
(the caller then polls `PRAGMA data_version`, backing off while idle).

Watching the directory, not the WAL file itself, survives the WAL being deleted and
re-created when the last connection closes. No busy loop: the inotify descriptor is one more
reader on the event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import struct
import sys
from collections.abc import Callable

log = logging.getLogger("infinitic.transport.sqlite")

_IN_MODIFY = 0x00000002
_IN_CLOSE_WRITE = 0x00000008
_IN_CREATE = 0x00000100
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name
INOTIFY = sys.platform.startswith("linux")


class FileWatch:
    """Calls `on_change()` on the loop when one of `names` in `folder` is written."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        folder: str,
        names: set[str],
        on_change: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._names = {n.encode() for n in names}
        self._on_change = on_change
        self._fd = -1
        if not INOTIFY:
            return
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
            mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_CREATE
            if libc.inotify_add_watch(fd, os.fsencode(folder), mask) < 0:
                err = ctypes.get_errno()
                os.close(fd)
                raise OSError(err, "inotify_add_watch")
        except (OSError, AttributeError) as exc:
            log.info("no file-change signal on %s (%s): polling instead", folder, exc)
            return
        self._fd = fd
        loop.add_reader(fd, self._read)

    @property
    def active(self) -> bool:
        return self._fd >= 0

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        offset, hit = 0, False
        while offset + _EVENT.size <= len(data):
            _wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            hit = hit or name in self._names
        if hit:
            self._on_change()

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
