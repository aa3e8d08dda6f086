"""The option names of one configuration block, and the errors that name a bad one.

One helper for every block that takes options (the storage factory's sqlite entry, the Redis
and MySQL storages, the Pulsar settings): a user's key is checked against the names the block
accepts, aliases are mapped to one argument, and an unknown or repeated key is refused with an
error that names it and lists what is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError

__all__ = ["OptionNames"]


class OptionNames:
    """`names`: argument -> the name shown for it in messages (camelCase in Infinitic's YAML).

    A block accepts each shown name, each argument and each of `aliases` (alias -> argument);
    `secrets`: the arguments whose values an error never shows.
    """

    __slots__ = ("_accepted", "_names", "_secrets", "listed")

    def __init__(
        self,
        names: Mapping[str, str],
        aliases: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self._names = dict(names)
        self._secrets = frozenset(secrets)  # arguments whose values errors never show
        self._accepted = {n: a for a, n in names.items()} | {a: a for a in names}
        self._accepted |= aliases or {}
        # what an unknown key's error lists
        self.listed: tuple[str, ...] = tuple(sorted(set(names.values())))

    @classmethod
    def plain(cls, names: Iterable[str], aliases: Mapping[str, str] | None = None) -> OptionNames:
        """A block whose messages name the arguments themselves."""
        return cls({n: n for n in names}, aliases)

    @property
    def accepted(self) -> frozenset[str]:
        """Every key the block takes: shown names, arguments and aliases."""
        return frozenset(self._accepted)

    def shown(self, argument: str) -> str:
        """The name of `argument` in messages."""
        return self._names.get(argument, argument)

    def bad(self, argument: str, what: str, value: object, where: str = "") -> ConfigError:
        """The error `where.option must be what, not value` (a secret's value is not shown)."""
        shown = "***" if argument in self._secrets else repr(value)
        prefix = f"{where}." if where else ""
        return ConfigError(f"{prefix}{self.shown(argument)} must be {what}, not {shown}")

    def arguments(
        self,
        options: Mapping[Any, Any],
        where: str,
        unknown: str = "unknown option; expected one of",
    ) -> dict[str, Any]:
        """`options` keyed by argument; an unknown key, or two keys for one argument, raise
        `ConfigError` naming `where.key`."""
        kwargs: dict[str, Any] = {}
        for option, value in options.items():
            argument = self._accepted.get(option) if isinstance(option, str) else None
            if argument is None:
                raise ConfigError(f"{where}.{option}: {unknown} {', '.join(self.listed)}")
            if argument in kwargs:
                raise ConfigError(f"{where}.{option}: {self.shown(argument)} is given twice")
            kwargs[argument] = value
        return kwargs
