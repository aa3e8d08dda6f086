"""Interfaces in each style docs/typing.md accepts, and implementations that do not match their
interface (tests/config/test_interfaces.py loads them through a worker config)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from infinitic import Workflow, name


@name("AbstractHello")
class AbstractHello:
    @abstractmethod
    def greet(self, who: str, punctuation: str = "!") -> str: ...


class AbstractHelloImpl(AbstractHello):
    def greet(self, who: str, punctuation: str = "!") -> str:
        return f"hello {who}{punctuation}"


@name("ProtocolHello")
class ProtocolHello(Protocol):
    def greet(self, who: str) -> str: ...


class ProtocolHelloImpl(ProtocolHello):
    def greet(self, who: str) -> str:
        return f"hi {who}"


@name("RaisingHello")
class RaisingHello:
    def greet(self, who: str) -> str:
        raise NotImplementedError


class RaisingHelloImpl(RaisingHello):
    def greet(self, who: str) -> str:
        return f"hey {who}"


@name("Greeter")
class Greeter(Workflow):
    @abstractmethod
    def run(self, who: str) -> str: ...


class GreeterImpl(Greeter):
    def run(self, who: str) -> str:
        return self.new_service(AbstractHello).greet(who, "?")


# -- implementations that differ from their interface -----------------------------------------
class RenamedParameter(AbstractHello):
    def greet(self, name: str, punctuation: str = "!") -> str:
        return name


class MissingDefault(AbstractHello):
    def greet(self, who: str, punctuation: str) -> str:  # type: ignore[override]
        return who


class OtherAnnotation(AbstractHello):
    def greet(self, who: int, punctuation: str = "!") -> str:  # type: ignore[override]
        return str(who)


class Unannotated(AbstractHello):
    def greet(self, who, punctuation="!"):  # type: ignore[no-untyped-def]
        return who


class Unimplemented(RaisingHello):
    def other(self) -> None:
        pass


class ExtraParameter(Greeter):
    def run(self, who: str, again: bool) -> str:  # type: ignore[override]
        return who
