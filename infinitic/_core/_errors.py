"""Errors raised by the _core modules; re-exported by infinitic.errors."""


class EnvelopeError(ValueError):
    """Bytes that are not a valid envelope, or a message that cannot be encoded as one."""
