"""Resolves the `class:` paths of a config, with errors that say what the path really names.

`services[i].class` and `workflows[i].class` must name an implementation class: not a function,
a module, an instance, the interface (methods without bodies) or a class of the other role.
Every error reads "<file>: <key>: <what is wrong>: <the fix>".
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Iterable
from typing import Any

from ..common.declarations import has_no_body
from ..errors import ConfigError

_FIX = {
    "service": "give the implementation class of the service",
    "workflow": "give the implementation class of the workflow (a subclass of infinitic.Workflow)",
    "listener": "give a class with an on_events(self, events) method",
}


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
    if not own or not all(has_no_body(f) for f in own):
        return False
    return bool(cls.__subclasses__())


def implementations(cls: type) -> list[str]:
    """The qualified paths of the classes that subclass `cls`, for the error's fix."""
    subclasses: list[type] = cls.__subclasses__()
    return sorted(f"{c.__module__}.{c.__qualname__}" for c in subclasses)


def check_implementation(
    impl: type, interface: type, attributes: Iterable[str], path: str, key: str, source: str
) -> None:
    """Refuses an implementation that does not implement the interface's methods with the same
    signatures (names, kinds, order and defaults of the parameters; their annotations where
    both sides write one): a ConfigError naming both methods."""
    if interface is impl:
        return
    where = f"{interface.__module__}.{interface.__qualname__}"
    problems = []
    for attribute in attributes:
        declared = getattr(interface, attribute)
        implemented = getattr(impl, attribute, None)
        if implemented is declared or implemented is None:
            if has_no_body(declared):
                problems.append(f"{path} does not implement {where}.{attribute}")
            continue
        if not callable(implemented):
            problems.append(f"{path}.{attribute} is not a method")
            continue
        theirs, ours = _shape(declared), _shape(implemented)
        if theirs is None or ours is None or theirs[:2] == ours[:2]:
            continue
        problems.append(
            f"{path}.{attribute}{ours[2]} differs from the interface's "
            f"{where}.{attribute}{theirs[2]}"
        )
    if problems:
        raise ConfigError(
            f"{source}: {key}: {'; '.join(problems)}: give the implementation the interface's "
            "signatures (parameter names, order and defaults, and the same annotations)"
        )


def _shape(fn: Any) -> tuple[Any, Any, str] | None:
    """(parameters, annotations, text) of a method; None when it cannot be inspected."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations are not compared
        hints = {}
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in list(signature.parameters.values())[1:]
    ]
    shape = tuple((p.name, p.kind, p.default is not p.empty) for p in params)
    shown = signature.replace(
        parameters=params, return_annotation=hints.get("return", signature.return_annotation)
    )
    return shape, _Annotations(hints), str(shown)


class _Annotations:
    """Equal when every name annotated on both sides has the same type."""

    def __init__(self, hints: dict[str, Any]) -> None:
        self.hints = hints

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Annotations):
            return NotImplemented
        common = self.hints.keys() & other.hints.keys()
        return all(self.hints[k] == other.hints[k] for k in common)

    __hash__ = None  # type: ignore[assignment]
