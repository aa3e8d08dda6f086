"""Resolves the `class:` paths of a config, with errors that say what the path really names.

`services[i].class` and `workflows[i].class` must name an implementation class: not a function,
a module, an instance, the interface (methods without bodies) or a class of the other role.
Every error reads "<file>: <key>: <what is wrong>: <the fix>".
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..errors import ConfigError

_FIX = {
    "service": "give the implementation class of the service",
    "workflow": "give the implementation class of the workflow (a subclass of infinitic.Workflow)",
}


def _stub() -> None: ...


def _stub_doc() -> None:
    """A docstring and no body."""


async def _async_stub() -> None: ...


_EMPTY_BODIES = {f.__code__.co_code for f in (_stub, _stub_doc, _async_stub)}


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _what(value: Any) -> str:
    if inspect.ismodule(value):
        return "a module"
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return "a function"
    if inspect.ismethod(value):
        return "a method"
    name = type(value).__name__
    return f"{_article(name)} {name}"


def import_class(path: Any, key: str, source: str, role: str) -> type:
    """The class at `path` ("package.module.Class"); ConfigError naming `source` and `key`."""
    fix = _FIX[role]

    def error(problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {problem}")

    if not isinstance(path, str):
        raise error(f"expected a class path string, got {type(path).__name__}: {fix}")
    parts = path.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        raise error(f"{path!r} is not a class path: write 'package.module.Class' ({fix})")
    module_name, attr = path.rpartition(".")[0], parts[-1]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise error(
            f"cannot import module {module_name!r} ({exc}): check the path and that the module "
            "is on PYTHONPATH"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed while importing
        raise error(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    try:
        value: Any = getattr(module, attr)
    except AttributeError:
        value = _submodule(path)
        if value is None:
            raise error(f"module {module_name!r} has no {attr!r}: {fix}") from None
    if not isinstance(value, type):
        raise error(f"{path!r} is {_what(value)}, not a class: {fix}")
    return value


def _submodule(path: str) -> Any:
    try:
        return importlib.import_module(path)
    except Exception:  # noqa: BLE001 - not a module either: the caller says "has no"
        return None


def is_interface(cls: type, base: type | None = None) -> bool:
    """True for the interface of a service or workflow: every public method it declares itself
    has no body, and a subclass implements them. (A service of no-op methods that nothing
    subclasses is an implementation.)"""
    own = [
        v
        for k, v in vars(cls).items()
        if not k.startswith("_") and inspect.isfunction(v) and (base is None or k not in vars(base))
    ]
    if not own or not all(f.__code__.co_code in _EMPTY_BODIES for f in own):
        return False
    return bool(cls.__subclasses__())


def implementations(cls: type) -> list[str]:
    """The qualified paths of the classes that subclass `cls`, for the error's fix."""
    subclasses: list[type] = cls.__subclasses__()
    return sorted(f"{c.__module__}.{c.__qualname__}" for c in subclasses)
