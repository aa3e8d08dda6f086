"""The scenarios' implementations written with `async def`: the async twin of every class that
`tests.scenarios.shared` and `tests.scenarios.areas.*` register, built from its source.

A twin is the same class body, rewritten the way a user would write it async:
- in a workflow, every method but `__init__` and properties is `async def`; `x.result()` (a
  Deferred, `all_of`/`any_of`, a timer, a `receive()`) is `await x`, and a call of one of the
  class's own rewritten methods is awaited. Stub calls are unchanged: a stub of a sync-declared
  interface answers with the value in async code too (docs/async.md);
- in a service, every task method and `@batch` method is `async def`, and the task's blocking
  waits (`_sleep(ms)`, `threading.Event().wait(s)`) are `await asyncio.sleep(...)`: an `async
  def` task runs on the worker's event loop, which a blocking wait would stall.

The twins keep the interfaces (so the tests and the names registered are the same), take the
name `Async<Impl>` (a version suffix `_N` stays last) and live in this module, where a worker
imports them by path. Rewriting instead of copying keeps the two sets the same scenarios by
construction. `python -m tests.scenarios.async_impls` prints the twins' source.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import linecache
import sys
import textwrap
from typing import Any

from infinitic import Workflow

PREFIX = "Async"
_SOURCES: dict[str, str] = {}
_ORIGINS: dict[str, str] = {}  # twin name -> the path of the class it was built from


def twin_name(cls: type) -> str:
    return PREFIX + cls.__qualname__


class _Rewrite(ast.NodeTransformer):
    def __init__(self, workflow: bool, methods: set[str]) -> None:
        self.workflow = workflow
        self.methods = methods

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if self.workflow:
            if isinstance(func, ast.Attribute) and func.attr == "result" and not node.args:
                return ast.Await(func.value)  # deferred.result() -> await deferred
            if _is_self_call(func, self.methods):
                return ast.Await(node)
            return node
        if isinstance(func, ast.Name) and func.id == "_sleep":  # _sleep(ms)
            seconds = ast.BinOp(node.args[0], ast.Div(), ast.Constant(1000))
            return ast.Await(_asyncio_sleep(seconds))
        if (  # threading.Event().wait(s)
            isinstance(func, ast.Attribute)
            and func.attr == "wait"
            and isinstance(func.value, ast.Call)
            and ast.unparse(func.value.func) == "threading.Event"
        ):
            return ast.Await(_asyncio_sleep(node.args[0]))
        return node


def _is_self_call(func: ast.expr, methods: set[str]) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "self"
        and func.attr in methods
    )


def _asyncio_sleep(seconds: ast.expr) -> ast.Call:
    asyncio_name = ast.Name(id="asyncio", ctx=ast.Load())
    return ast.Call(ast.Attribute(asyncio_name, "sleep", ast.Load()), [seconds], [])


def _rewritten(fn: ast.FunctionDef, workflow: bool) -> bool:
    if fn.name.startswith("__"):
        return False
    decorators = {ast.unparse(d).split("(")[0] for d in fn.decorator_list}
    if decorators & {"property", "staticmethod", "classmethod"}:
        return False
    return workflow or not fn.name.startswith("_") or "batch" in decorators


def build(cls: type) -> type:
    """The async twin of implementation `cls`, defined in this module."""
    module = sys.modules[cls.__module__]
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef), cls
    workflow = issubclass(cls, Workflow)
    methods = [
        item
        for item in node.body
        if isinstance(item, ast.FunctionDef) and _rewritten(item, workflow)
    ]
    rewrite = _Rewrite(workflow, {fn.name for fn in methods})
    body: list[ast.stmt] = []
    for item in node.body:
        if item in methods:
            assert isinstance(item, ast.FunctionDef)
            fn = rewrite.visit(item)
            item = ast.AsyncFunctionDef(**{f: getattr(fn, f) for f in fn._fields})
        body.append(item)
    node.body = body
    node.name = twin_name(cls)
    source = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    filename = f"<async twin of {cls.__module__}.{cls.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    _SOURCES[node.name] = source
    namespace = {**vars(module), "__name__": __name__, "asyncio": asyncio}
    # the twins' annotations stay strings, as in their modules (the name `annotations` is the
    # __future__ feature imported above)
    flags = annotations.compiler_flag
    exec(compile(source, filename, "exec", flags=flags, dont_inherit=True), namespace)  # noqa: S102 - our own test classes
    twin: type = namespace[node.name]
    return twin


def load(path: str) -> type:
    """The class at a dotted `path`."""
    module, _, attribute = path.rpartition(".")
    cls: type = getattr(importlib.import_module(module), attribute)
    return cls


def twin_path(path: str) -> str:
    """The path of the async twin of the implementation class at `path` (built on first use)."""
    cls = load(path)
    name = twin_name(cls)
    origin = _ORIGINS.setdefault(name, path)
    if origin != path:
        raise RuntimeError(f"{name}: the twin of both {origin} and {path}: rename one")
    here = sys.modules[__name__]
    if not hasattr(here, name):
        setattr(here, name, build(cls))
    return f"{__name__}.{name}"


def twin_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worker-config entries with each `class` / `classes` replaced by its async twin."""
    out = []
    for entry in entries:
        entry = dict(entry)
        if "class" in entry:
            entry["class"] = twin_path(entry["class"])
        if "classes" in entry:
            entry["classes"] = [twin_path(c) for c in entry["classes"]]
        out.append(entry)
    return out


def sources() -> dict[str, str]:
    """The source of each twin built so far, by twin name."""
    return dict(_SOURCES)


def build_all() -> None:
    from tests.scenarios.conftest import register  # lazily: the conftest imports this module

    for entries in register().values():
        twin_entries(entries)


def __getattr__(name: str) -> type:
    """A twin imported by path before it was built (a worker in another process)."""
    if name.startswith(PREFIX) and name not in _ORIGINS:
        build_all()
        twin: type | None = vars(sys.modules[__name__]).get(name)
        if twin is not None:
            return twin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    build_all()
    print("\n".join(_SOURCES.values()))
