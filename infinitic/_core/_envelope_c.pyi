"""Type stub of the compiled `_envelope_c`; mirrors its pure-Python twin `_envelope_py`."""

from collections.abc import Sequence

from ._errors import EnvelopeError as EnvelopeError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "FORMAT_VERSION",
    "KINDS",
    "MAGIC",
    "MAX_DEPTH",
    "Codec",
    "EnvelopeError",
]

MAGIC: bytes
FORMAT_VERSION: int
DEFAULT_MAX_SIZE: int
MAX_DEPTH: int
KINDS: str

class Codec:
    def __init__(
        self,
        types: Sequence[tuple[int, type, Sequence[tuple[str, str]]]],
        max_size: int = ...,
    ) -> None: ...
    @property
    def max_size(self) -> int: ...
    def encode(self, message: object) -> bytes: ...
    def decode(self, data: bytes | bytearray | memoryview) -> object: ...
