"""Secrets out of reprs and error messages: credentials in a config are shown as ``***``.

A key is secret when its name says so (password, token, secret, private key, credentials,
auth params), whatever its nesting; a URL's password (``scheme://user:password@host``) is
masked wherever a string holds one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(r"pass(word)?|token|secret|private_?key|credential|auth_?params", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:)[^/@\s]*(?=@)")


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def mask_text(text: str) -> str:
    """`text` with the password of any URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def masked(value: Any) -> Any:
    """A copy of a config value (mappings, lists, strings) with its secrets masked."""
    if isinstance(value, Mapping):
        return {
            k: (MASK if is_secret_key(k) and v is not None else masked(v)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(masked(v) for v in value)
    if isinstance(value, str):
        return mask_text(value)
    return value
