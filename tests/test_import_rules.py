"""The dependency direction of DESIGN.md section 2, checked on the source's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "infinitic"

# package -> infinitic packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "_core": set(),
    "common": {"_core", "errors"},
    "service": {"_core", "common", "errors"},
    "workflow": {"_core", "common", "service", "errors"},
    "config": {"_core", "common", "errors"},
    "transport": {"_core", "common", "errors"},
    "storage": {"_core", "common", "errors"},
    "engines": {"_core", "common", "service", "workflow", "storage", "transport", "errors"},
    "executors": {"_core", "common", "service", "workflow", "storage", "transport", "errors"},
    # client reads states and the workflow index through storage (describe, list)
    "client": {
        "_core",
        "common",
        "service",
        "workflow",
        "transport",
        "storage",
        "config",
        "errors",
    },
    "events": {"_core", "common", "transport", "config", "errors"},
}


def _imports(path: Path) -> list[str]:
    """Absolute names of the infinitic modules that `path` imports."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                out.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                out.append(node.module)
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "infinitic" or len(parts) < 2:
        return None
    return parts[1]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str) -> None:
    bad = []
    for path in (ROOT / package).rglob("*.py"):
        for module in _imports(path):
            layer = _layer(module)
            if layer and layer != package and layer not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not bad, "\n".join(bad)


def test_core_imports_only_the_standard_library() -> None:
    for path in list((ROOT / "_core").glob("*.py")) + list((ROOT / "_core").glob("*.pyx")):
        if path.suffix == ".pyx":
            continue  # cimports are checked by the build; its imports are plain Python ones
        for module in _imports(path):
            top = module.split(".")[0]
            assert top == "infinitic" or top in sys.stdlib_module_names, f"{path.name}: {module}"


def test_nothing_imports_testing() -> None:
    for path in ROOT.rglob("*.py"):
        if "testing" in path.parts:
            continue
        assert not any(m.startswith("infinitic.testing") for m in _imports(path)), path
