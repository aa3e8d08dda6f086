"""Optional compression of stored values: `storage: {<backend>: {compression: zlib | zstd}}`.

A compressed value starts with one marker byte (1: zlib, 2: zstd) before the compressed bytes.
Reading detects the marker, so values written before compression was turned on (workflow
states start with the envelope magic "IN") and values written by either algorithm stay readable
when the setting changes. Key sets are not compressed.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from .._core.envelope import DEFAULT_MAX_SIZE
from ..errors import ConfigError, StorageError
from .base import IndexEntry, IndexPage, IndexQuery, Storage, Write

_ZLIB, _ZSTD = 1, 2
# below this, compression costs more than it saves
MIN_SIZE = 256
# what a stored value may inflate to: no valid state is larger than an envelope may be, and a
# corrupt (or hostile) value must not inflate to gigabytes before the decoder refuses it
MAX_INFLATED = DEFAULT_MAX_SIZE


def _zstd() -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
    if sys.version_info >= (3, 14):
        try:
            from compression import zstd  # novermin: guarded by the version check

            return zstd.compress, zstd.decompress
        except ImportError:  # an interpreter built without zstd
            pass
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            "storage compression 'zstd' needs Python 3.14 or the zstandard package "
            "(pip install zstandard); 'zlib' needs nothing"
        ) from None
    compressor, decompressor = zstandard.ZstdCompressor(), zstandard.ZstdDecompressor()
    return compressor.compress, decompressor.decompress


class CompressedStorage(Storage):
    """Wraps a backend, compressing the values it stores."""

    def __init__(self, inner: Storage, algorithm: str) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.algorithm = algorithm
        if algorithm == "zlib":
            self._marker = _ZLIB
            self._compress: Callable[[bytes], bytes] = lambda data: zlib.compress(data, 6)
        elif algorithm == "zstd":
            self._marker = _ZSTD
            self._compress = _zstd()[0]
        else:
            raise ConfigError(f"storage compression must be 'zlib' or 'zstd', got {algorithm!r}")

    def __repr__(self) -> str:
        return f"CompressedStorage({self.inner!r}, {self.algorithm!r})"

    def _pack(self, value: bytes | None) -> bytes | None:
        if value is None or len(value) < MIN_SIZE:
            return value
        return bytes([self._marker]) + self._compress(value)

    @staticmethod
    def _unpack(value: bytes) -> bytes:
        marker = value[0] if value else 0
        try:
            if marker == _ZLIB:
                inflater = zlib.decompressobj()
                out = inflater.decompress(value[1:], MAX_INFLATED)
                if inflater.unconsumed_tail:
                    raise StorageError(
                        f"a stored value inflates to more than {MAX_INFLATED} bytes "
                        "(the envelope size limit): it is corrupt"
                    )
                if not inflater.eof:
                    raise StorageError("a stored value cannot be decompressed: it is truncated")
                return out
            if marker == _ZSTD:
                out = _zstd()[1](value[1:])
                if len(out) > MAX_INFLATED:
                    raise StorageError(
                        f"a stored value inflates to more than {MAX_INFLATED} bytes "
                        "(the envelope size limit): it is corrupt"
                    )
                return out
        except (ConfigError, StorageError):
            raise
        except Exception as exc:  # noqa: BLE001 - a corrupt value is a storage problem
            raise StorageError(f"a stored value cannot be decompressed: {exc}") from None
        return value

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def get(self, key: str) -> tuple[bytes, int] | None:
        found = await self.inner.get(key)
        return None if found is None else (self._unpack(found[0]), found[1])

    async def get_many(self, keys: Sequence[str]) -> dict[str, tuple[bytes, int]]:
        found = await self.inner.get_many(keys)
        return {k: (self._unpack(v), version) for k, (v, version) in found.items()}

    async def put(
        self,
        key: str,
        value: bytes | None,
        expected_version: int,
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> int:
        return await self.inner.put(
            key, self._pack(value), expected_version, ttl_seconds=ttl_seconds, index=index
        )

    async def put_many(
        self,
        writes: Sequence[Write],
        *,
        ttl_seconds: float | None = None,
        index: IndexEntry | None = None,
    ) -> list[int]:
        packed = [(k, self._pack(v), version) for k, v, version in writes]
        return await self.inner.put_many(packed, ttl_seconds=ttl_seconds, index=index)

    async def list_index(self, query: IndexQuery) -> IndexPage:
        return await self.inner.list_index(query)

    async def purge_expired(self) -> int:
        return await self.inner.purge_expired()

    async def add_to_set(self, key: str, member: str) -> None:
        await self.inner.add_to_set(key, member)

    async def remove_from_set(self, key: str, member: str) -> None:
        await self.inner.remove_from_set(key, member)

    async def get_set(self, key: str) -> frozenset[str]:
        return await self.inner.get_set(key)


def wrap(storage: Storage, compression: Any, key: str) -> Storage:
    if compression in (None, "none", False):
        return storage
    if compression not in ("zlib", "zstd"):
        raise ConfigError(
            f"{key}.compression must be 'zlib', 'zstd' or 'none', got {compression!r}"
        )
    return CompressedStorage(storage, compression)
