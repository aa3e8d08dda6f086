"""The dependency direction of DESIGN.md section 2, checked on the source's imports.

Every module of `infinitic/` belongs to one layer (`layer_of`); `ALLOWED` says which other layers
a layer may import, as DESIGN words it. Each import is resolved to the module it loads: in
`from .. import errors` the name `errors` is a module, so the import is of `infinitic.errors`,
not of the package. Imports inside functions count for the layers too (a lazy import of a
concrete backend still ties the code to it); the deliberate exceptions are `DESIGNED`, each
bound to the function it must stay inside. The cycle check reads only module-level imports
(`if TYPE_CHECKING:` blocks included): an import inside a function runs after every module is
loaded, so it cannot close an import cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "infinitic"

BASE = {"_core", "errors", "common"}
STORAGES = {"storage.memory", "storage.sqlite", "storage.redis", "storage.mysql"}
TRANSPORTS = {"transport.memory", "transport.sqlite", "transport.pulsar"}
CONCRETE = STORAGES | TRANSPORTS | {"storage.factory", "transport.factory"}
EVERYTHING = (
    BASE
    | CONCRETE
    | {"service", "workflow", "config", "storage", "transport", "storage.base", "transport.base"}
    | {"engines", "executors", "client", "events", "web", "worker", "demo", "cli", "testing"}
    | {"facade"}
)

# layer -> the layers it may import (besides itself), as DESIGN.md section 2 words them
ALLOWED: dict[str, set[str]] = {
    "_core": set(),  # the standard library only (test_core_imports_only_the_standard_library)
    "errors": {"_core"},
    "common": {"_core", "errors"},
    "service": BASE,
    "workflow": BASE,
    "config": BASE,
    "storage.base": BASE,
    "transport.base": BASE,
    **{backend: BASE | {"storage.base"} for backend in STORAGES},
    **{backend: BASE | {"transport.base"} for backend in TRANSPORTS},
    "storage.factory": BASE | {"storage.base"} | STORAGES,
    "transport.factory": BASE | {"transport.base"} | TRANSPORTS,
    # the packages' __init__: the contract plus the factory that builds a backend
    "storage": BASE | {"storage.base", "storage.factory"} | STORAGES,
    "transport": BASE | {"transport.base", "transport.factory"} | TRANSPORTS,
    "engines": BASE | {"service", "storage.base", "transport.base"},
    "executors": BASE | {"service", "workflow", "storage.base", "transport.base"},
    "client": BASE | {"storage.base", "transport.base"},
    "events": BASE | {"config", "transport.base"},
    "web": BASE | {"client", "config", "storage.base", "transport.base"},
    # the composition root: everything but the layers above it
    "worker": EVERYTHING - {"demo", "cli", "testing", "facade"},
    "demo": BASE | {"facade", "service", "workflow", "client", "worker", "config"},
    "cli": EVERYTHING - {"testing"},
    "testing": EVERYTHING - {"demo", "cli", "web"},
    "facade": BASE | {"service", "workflow", "client", "worker", "config"},
}

# (importer, imported) -> the function the import must stay inside: DESIGN's written exceptions
DESIGNED: dict[tuple[str, str], str] = {
    # InfiniticClient.from_config / from_config_file build their transport (and, on first
    # describe/list, their storage) through config and the factories
    ("infinitic.client.client", "infinitic.config"): "from_config|from_config_file",
    ("infinitic.client.client", "infinitic.transport.factory"): "from_config",
    ("infinitic.client.client", "infinitic.storage.factory"): "_read_storage",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    function: str | None  # the enclosing function; None at module level


def layer_of(module: str) -> str | None:
    """The layer of an `infinitic` module (None for other modules)."""
    parts = module.split(".")
    if parts[0] != "infinitic":
        return None
    if len(parts) == 1:
        return "facade"
    top = parts[1]
    if top in ("cli", "__main__"):
        return "cli"
    if top in ("storage", "transport"):
        if len(parts) == 2:
            return top
        # a backend's private helpers (_redis_pipeline, _mysql_index) belong to the backend
        sub = parts[2].lstrip("_").split("_")[0]
        if f"{top}.{sub}" in CONCRETE:
            return f"{top}.{sub}"
        return f"{top}.base"  # the contract and what every backend shares
    return top


def module_names(root: Path) -> dict[str, Path]:
    """Every module under `root` (a package directory named `infinitic`) and its file."""
    out = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports_of(name: str, source: str, modules: Iterable[str]) -> list[Import]:
    """The infinitic modules that module `name` (with `source`) imports, resolved."""
    known = set(modules)
    is_package = name == "infinitic" or any(m.startswith(name + ".") for m in known)
    package = name if is_package else name.rpartition(".")[0]
    out: list[Import] = []

    def resolve(target: str) -> str:
        while target not in known and "." in target:
            target = target.rpartition(".")[0]
        return target

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = function
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = child.name if function is None else function
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    keep = len(package.split(".")) - child.level + 1
                    base = ".".join(package.split(".")[:keep] + [child.module or ""]).strip(".")
                else:
                    base = child.module or ""
                # `from X import y` loads the module X.y when y is one
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names
                ]
            for target in targets:
                if target.split(".")[0] == "infinitic":
                    out.append(Import(name, resolve(target), child.lineno, function))
            visit(child, inner)

    visit(ast.parse(source), None)
    return out


def layer_violations(
    imports: Iterable[Import],
    allowed: Mapping[str, set[str]] = ALLOWED,
    designed: Mapping[tuple[str, str], str] = DESIGNED,
) -> list[str]:
    bad = []
    for imp in imports:
        source, target = layer_of(imp.importer), layer_of(imp.imported)
        if source is None or target is None or source == target:
            continue
        if target in allowed[source]:
            continue
        where = designed.get((imp.importer, imp.imported))
        if where is not None and imp.function in where.split("|"):
            continue
        bad.append(f"{imp.importer}:{imp.line} ({source}) imports {imp.imported} ({target})")
    return bad


def import_cycles(imports: Iterable[Import]) -> list[set[str]]:
    """The strongly connected components (of two or more modules) of the module-level graph."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.function is None and imp.importer != imp.imported:
            graph.setdefault(imp.importer, set()).add(imp.imported)
            graph.setdefault(imp.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def tree_imports(root: Path = ROOT) -> list[Import]:
    modules = module_names(root)
    out: list[Import] = []
    for name, path in sorted(modules.items()):
        out += imports_of(name, path.read_text(), modules)
    return out


IMPORTS = tree_imports()


def test_every_module_has_a_layer_with_rules() -> None:
    layers = {layer_of(name) for name in module_names(ROOT)}
    assert layers <= set(ALLOWED), layers - set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_dependency_direction(layer: str) -> None:
    mine = [imp for imp in IMPORTS if layer_of(imp.importer) == layer]
    bad = layer_violations(mine)
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    cycles = import_cycles(IMPORTS)
    assert not cycles, "\n".join(" <-> ".join(sorted(c)) for c in cycles)


def test_core_imports_only_the_standard_library() -> None:
    for path in list((ROOT / "_core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            for module in names:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names, f"{path.name}: {module}"


def test_nothing_imports_testing() -> None:
    bad = [
        imp
        for imp in IMPORTS
        if layer_of(imp.imported) == "testing" and layer_of(imp.importer) != "testing"
    ]
    assert not bad, bad


# -- the checker itself fails on planted violations ---------------------------------------

# a small tree: name -> is it a package
_TREE = [
    "infinitic",
    "infinitic.errors",
    "infinitic._core",
    "infinitic._core.envelope",
    "infinitic.common",
    "infinitic.common.messages",
    "infinitic.service",
    "infinitic.service.spec",
    "infinitic.workflow",
    "infinitic.workflow.channel",
    "infinitic.config",
    "infinitic.config.loader",
    "infinitic.storage",
    "infinitic.storage.base",
    "infinitic.storage.sqlite",
    "infinitic.storage.factory",
    "infinitic.storage._mysql_index",
    "infinitic.transport",
    "infinitic.transport.base",
    "infinitic.transport.factory",
    "infinitic.transport.pulsar",
    "infinitic.transport.pulsar.admin",
    "infinitic.engines",
    "infinitic.engines.workflow_engine",
    "infinitic.engines.workflow_engine.engine",
    "infinitic.executors",
    "infinitic.executors.task",
    "infinitic.client",
    "infinitic.client.client",
    "infinitic.worker",
    "infinitic.worker.loading",
    "infinitic.testing",
    "infinitic.events",
    "infinitic.events.listener",
    "infinitic.web",
    "infinitic.web.app",
    "infinitic.demo",
    "infinitic.cli",
]


def _planted(name: str, source: str) -> list[str]:
    return layer_violations(imports_of(name, source, _TREE))


@pytest.mark.parametrize(
    ("name", "source"),
    [
        # the name imported from a package is a module: it is what gets checked
        ("infinitic.engines.workflow_engine.engine", "from ... import worker"),
        ("infinitic.engines.workflow_engine.engine", "from ...storage import sqlite"),
        ("infinitic.engines.workflow_engine.engine", "from ...transport import pulsar"),
        ("infinitic.engines.workflow_engine.engine", "from ...workflow import channel"),
        ("infinitic.engines.workflow_engine.engine", "from ... import client"),
        ("infinitic.executors.task", "import infinitic.storage.sqlite"),
        ("infinitic.executors.task", "from ..transport.factory import create_transport"),
        ("infinitic.executors.task", "def f():\n    from ..transport.pulsar import admin"),
        ("infinitic.client.client", "from ..service.spec import describe"),
        ("infinitic.client.client", "from ..workflow.channel import Channel"),
        ("infinitic.client.client", "from ..storage._mysql_index import x"),
        # the written exception holds only inside its function
        ("infinitic.client.client", "from ..transport.factory import create_transport"),
        ("infinitic.client.client", "def describe():\n    from ..storage.factory import f"),
        ("infinitic.workflow.channel", "from ..service.spec import describe"),
        ("infinitic.service.spec", "from ..workflow import channel"),
        ("infinitic.common.messages", "from .. import service"),
        ("infinitic.errors", "from .common.messages import ErrorInfo"),
        ("infinitic.errors", "if TYPE_CHECKING:\n    from .common import messages"),
        ("infinitic._core.envelope", "from .. import errors"),
        ("infinitic.config.loader", "from ..storage import base"),
        ("infinitic.storage.base", "from . import sqlite"),
        ("infinitic.storage.sqlite", "from ..transport import base"),
        ("infinitic.transport.pulsar.admin", "from ...storage.base import Storage"),
        ("infinitic.storage.factory", "from ..transport import factory"),
        ("infinitic.events.listener", "from ..transport.pulsar import admin"),
        ("infinitic.web.app", "def f():\n    from ..transport.pulsar import admin"),
        ("infinitic.worker.loading", "from .. import cli"),
        ("infinitic.worker.loading", "from ..testing import WorkflowEnvironment"),
        ("infinitic.cli", "from .testing import replay"),
        ("infinitic.demo", "import infinitic.testing"),
        ("infinitic", "from .testing import replay"),
        ("infinitic", "from .storage import sqlite"),
    ],
)
def test_a_planted_violation_fails(name: str, source: str) -> None:
    assert _planted(name, source), f"{name}: {source!r} passed"


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("infinitic.engines.workflow_engine.engine", "from ...storage import base"),
        ("infinitic.engines.workflow_engine.engine", "from ...service.spec import describe"),
        ("infinitic.executors.task", "from ..workflow.channel import Channel"),
        ("infinitic.client.client", "def from_config():\n    from ..config import load"),
        ("infinitic.client.client", "def from_config():\n    from ..transport import factory"),
        ("infinitic.storage.sqlite", "from .base import Storage"),
        ("infinitic.worker.loading", "from ..transport.pulsar import admin"),
        ("infinitic.errors", "from ._core import envelope"),
    ],
)
def test_an_allowed_import_passes(name: str, source: str) -> None:
    assert not _planted(name, source)


def test_a_planted_cycle_is_found() -> None:
    tree = ["infinitic", "infinitic.a", "infinitic.b", "infinitic.c"]
    imports = (
        imports_of("infinitic.a", "from . import b", tree)
        + imports_of("infinitic.b", "if TYPE_CHECKING:\n    from .c import x", tree)
        + imports_of("infinitic.c", "from .a import y", tree)
    )
    assert import_cycles(imports) == [{"infinitic.a", "infinitic.b", "infinitic.c"}]
    lazy = imports_of("infinitic.c", "def f():\n    from .a import y", tree)
    assert import_cycles(imports[:2] + lazy) == []
