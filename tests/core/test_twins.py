"""Each compiled kernel has exactly the public surface of its pure-Python twin, the type source:
the same names, constants, classes, methods, properties and parameters (names, kinds,
defaults). Together with the parity tests (same results, bytes and errors) this is what lets the
selectors hand type checkers the twin whichever module runs, with no stub in between."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers.kernels import load

CORE = Path(__file__).resolve().parents[2] / "infinitic" / "_core"
KERNELS = sorted(p.name[1 : -len("_c.pyx")] for p in CORE.glob("_*_c.pyx"))
# dunders a kernel class defines on purpose (the rest come from object or from Cython)
DUNDERS = ("__init__", "__eq__", "__hash__", "__len__", "__reduce__")


def _parameters(obj: Any) -> list[tuple[str, str, object]] | None:
    """(name, kind, default) of each parameter, or None if the runtime cannot tell (a compiled
    type's slot wrapper shows `*args, **kwargs`)."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params) and params[0].name in (
        "self",
        "args",
    ):
        return None
    return [(p.name, p.kind.name, p.default) for p in params]


def _compare_callables(where: str, twin: Any, compiled: Any, dunder: bool) -> list[str]:
    have, want = _parameters(compiled), _parameters(twin)
    if have is None or want is None:
        return []
    if dunder:  # a slot wrapper names its arguments itself (`value` for `other`)
        return [] if len(have) == len(want) else [f"{where}: {have}, the twin has {want}"]
    return [] if have == want else [f"{where}: {have}, the twin has {want}"]


def _init_attributes(module: ModuleType, class_name: str) -> set[str]:
    """The public attributes a twin class's __init__ assigns on self (History's lists)."""
    tree = ast.parse(Path(module.__file__ or "").read_text())
    found: set[str] = set()
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name == class_name:
            for node in ast.walk(cls):
                target = node.target if isinstance(node, ast.AnnAssign) else None
                targets = node.targets if isinstance(node, ast.Assign) else [target]
                for t in targets:
                    if (
                        isinstance(t, ast.Attribute)
                        and isinstance(t.value, ast.Name)
                        and t.value.id == "self"
                        and not t.attr.startswith("_")
                    ):
                        found.add(t.attr)
    return found


def _public(cls: type) -> dict[str, Any]:
    return {k: v for k, v in vars(cls).items() if not k.startswith("_") or k in DUNDERS}


def surface_differences(twin: ModuleType, compiled: ModuleType) -> list[str]:
    """Every way `compiled`'s public surface differs from `twin`'s."""
    names: list[str] = getattr(twin, "__all__")  # noqa: B009
    problems = []
    if sorted(getattr(compiled, "__all__", [])) != sorted(names):  # noqa: B009
        problems.append(f"__all__ {getattr(compiled, '__all__', None)}, the twin has {names}")
    for name in names:
        ours, theirs = getattr(twin, name), getattr(compiled, name, None)
        if theirs is None:
            problems.append(f"{name}: missing")
        elif inspect.isclass(ours):
            if not inspect.isclass(theirs):
                problems.append(f"{name}: not a class")
                continue
            members, compiled_members = _public(ours), _public(theirs)
            for member, value in members.items():
                where = f"{name}.{member}"
                if member not in compiled_members and not (
                    member == "__init__" and hasattr(theirs, "__init__")
                ):
                    if not (member in DUNDERS and member in vars(object)):
                        problems.append(f"{where}: missing")
                    continue
                other = compiled_members.get(member, getattr(theirs, member))
                if isinstance(value, property):
                    if callable(other) and not inspect.isdatadescriptor(other):
                        problems.append(f"{where}: a method, the twin has a property")
                elif callable(value):
                    problems += _compare_callables(where, value, other, member in DUNDERS)
            attributes = _init_attributes(twin, name)
            problems += [
                f"{name}.{a}: missing" for a in sorted(attributes) if not hasattr(theirs, a)
            ]
            declared = set(members) | attributes
            extra = sorted(set(compiled_members) - declared - set(DUNDERS))
            problems += [f"{name}.{member}: public, not in the twin" for member in extra]
        elif callable(ours) and not isinstance(ours, type):
            problems += _compare_callables(name, ours, theirs, False)
        elif ours is not theirs and ours != theirs:
            problems.append(f"{name}: {theirs!r}, the twin has {ours!r}")
    return problems


def test_every_compiled_kernel_has_a_pure_python_twin_and_no_stub() -> None:
    twins = sorted(p.name[1 : -len("_py.py")] for p in CORE.glob("_*_py.py"))
    assert KERNELS, "no Cython source in infinitic/_core"
    assert twins == KERNELS
    assert sorted(CORE.glob("*.pyi")) == []  # the twin is the type source (docs: DESIGN §2)


@pytest.mark.c_extension
@pytest.mark.parametrize("kernel", KERNELS)
def test_the_compiled_kernel_has_the_surface_of_its_twin(kernel: str) -> None:
    assert surface_differences(load(kernel, "py"), load(kernel, "c")) == []  # type: ignore[call-overload]


def test_a_drifted_compiled_module_is_caught() -> None:
    twin = load("backoff", "py")
    drifted = ModuleType("drifted")
    for name in getattr(twin, "__all__"):  # noqa: B009
        setattr(drifted, name, getattr(twin, name))
    drifted.__all__ = list(getattr(twin, "__all__"))  # type: ignore[attr-defined]  # noqa: B009

    def compute_delay(retry: int, minimum: float, *rest: float) -> float:
        return 0.0

    class ExponentialBackoff(twin.ExponentialBackoff):  # type: ignore[misc]
        def get_seconds_before_retry(self, attempt: int, exception: BaseException) -> float:
            return 0.0

        def extra(self) -> None:
            pass

    drifted.compute_delay = compute_delay  # type: ignore[attr-defined]
    drifted.ExponentialBackoff = ExponentialBackoff  # type: ignore[attr-defined]
    drifted.DEFAULT_MAXIMUM_RETRIES = 12  # type: ignore[attr-defined]
    problems = "\n".join(surface_differences(twin, drifted))
    assert "compute_delay: [('retry'" in problems
    assert "ExponentialBackoff.get_seconds_before_retry: [('self'" in problems
    assert "ExponentialBackoff.extra: public, not in the twin" in problems
    assert "DEFAULT_MAXIMUM_RETRIES: 12, the twin has 11" in problems
