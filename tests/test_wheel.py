"""What users install: the `.pyi` stubs of the compiled kernels say what the twins and the
compiled modules really have, and (slow) scripts/build-wheels gives an sdist and a wheel that
hold the right files and work in fresh virtualenvs: compiled kernels from the wheel, the
pure-Python twins from the sdist without a compiler, `infinitic demo` from both."""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.machinery
import inspect
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers.kernels import load

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "infinitic" / "_core"
KERNELS = sorted(p.name[1 : -len("_c.pyx")] for p in CORE.glob("_*_c.pyx"))
ANY = object()  # a stub default written `...`: the stub does not say which value
NO_DEFAULT = inspect.Parameter.empty


@dataclass(frozen=True)
class Param:
    name: str
    kind: inspect._ParameterKind
    default: object
    annotation: str | None


def _norm(annotation: str | None) -> str | None:
    # the same text whatever the spacing: both sides go through ast.unparse
    return None if annotation is None else ast.unparse(ast.parse(annotation, mode="eval"))


def _stub_params(fn: ast.FunctionDef) -> tuple[list[Param], str | None]:
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + [*a.defaults]
    params: list[Param] = []

    def default(node: ast.expr | None) -> object:
        if node is None:
            return NO_DEFAULT
        if isinstance(node, ast.Constant) and node.value is Ellipsis:
            return ANY
        return ast.literal_eval(node)

    def ann(arg: ast.arg) -> str | None:
        return None if arg.annotation is None else ast.unparse(arg.annotation)

    for i, (arg, node) in enumerate(zip(positional, defaults, strict=True)):
        kind = (
            inspect.Parameter.POSITIONAL_ONLY
            if i < len(a.posonlyargs)
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        params.append(Param(arg.arg, kind, default(node), ann(arg)))
    if a.vararg:
        params.append(
            Param(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, NO_DEFAULT, ann(a.vararg))
        )
    for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        params.append(Param(arg.arg, inspect.Parameter.KEYWORD_ONLY, default(kw_default), ann(arg)))
    if a.kwarg:
        params.append(Param(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD, NO_DEFAULT, ann(a.kwarg)))
    return params, None if fn.returns is None else ast.unparse(fn.returns)


def _compare(where: str, stub: ast.FunctionDef, obj: Any, *, annotations: bool) -> list[str]:
    """What differs between the stub's signature and `obj`'s (names, kinds, defaults and, for
    the twin, annotations). Dunders take their arguments positionally whatever they are called,
    so positional-only and positional-or-keyword are the same there."""
    stub_params, stub_returns = _stub_params(stub)
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []  # a compiled type's __init__ or slot: nothing to compare
    dunder = stub.name.startswith("__") and stub.name.endswith("__")

    def kind(k: inspect._ParameterKind) -> inspect._ParameterKind:
        return (
            inspect.Parameter.POSITIONAL_OR_KEYWORD
            if dunder and k == inspect.Parameter.POSITIONAL_ONLY
            else k
        )

    problems: list[str] = []
    real = list(signature.parameters.values())
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if (
        not annotations
        and any(p.kind in variadic for p in real)
        and not any(p.kind in variadic for p in stub_params)
    ):
        return []  # a compiled slot like __init__ shows (self, /, *args, **kwargs): nothing to compare
    if dunder and not annotations:
        # a compiled slot wrapper names its arguments itself (`value` for `other`)
        return (
            []
            if len(real) == len(stub_params)
            else [f"{where}: {len(real)} parameters, stub has {len(stub_params)}"]
        )
    if [p.name for p in real] != [p.name for p in stub_params]:
        return [
            f"{where}: parameters {[p.name for p in real]}, stub says {[p.name for p in stub_params]}"
        ]
    for have, said in zip(real, stub_params, strict=True):
        if kind(have.kind) != kind(said.kind):
            problems.append(
                f"{where}({have.name}): kind {have.kind.name}, stub says {said.kind.name}"
            )
        if said.default is not ANY and (
            have.default != said.default or type(have.default) is not type(said.default)
        ):
            problems.append(
                f"{where}({have.name}): default {have.default!r}, stub says {said.default!r}"
            )
        if annotations and have.name != "self":
            have_ann = None if have.annotation is NO_DEFAULT else str(have.annotation)
            if _norm(have_ann) != _norm(said.annotation):
                problems.append(
                    f"{where}({have.name}): annotation {have_ann}, stub says {said.annotation}"
                )
    if annotations:
        returns = (
            None if signature.return_annotation is NO_DEFAULT else str(signature.return_annotation)
        )
        if _norm(returns) != _norm(stub_returns):
            problems.append(f"{where}: returns {returns}, stub says {stub_returns}")
    return problems


def _declared_type(annotation: ast.expr) -> type | None:
    """The runtime class an annotation like `int`, `bytes` or `tuple[str, ...]` names, if any."""
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    found = getattr(builtins, node.id, None) if isinstance(node, ast.Name) else None
    return found if isinstance(found, type) else None


def _self_attributes(module_ast: ast.Module, class_name: str) -> dict[str, str | None]:
    """The attributes (and their annotations) a twin class's __init__ assigns on self."""
    found: dict[str, str | None] = {}
    for cls in module_ast.body:
        if not (isinstance(cls, ast.ClassDef) and cls.name == class_name):
            continue
        for fn in cls.body:
            if not (isinstance(fn, ast.FunctionDef) and fn.name == "__init__"):
                continue
            for node in ast.walk(fn):
                targets: list[ast.expr] = []
                annotation: str | None = None
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AnnAssign):
                    targets, annotation = [node.target], ast.unparse(node.annotation)
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                    ):
                        found.setdefault(target.attr, annotation)
    return found


def _stub(kernel: str) -> ast.Module:
    return ast.parse((CORE / f"_{kernel}_c.pyi").read_text())


def _stub_all(stub: ast.Module) -> list[str]:
    for node in stub.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return [str(v) for v in value]
    raise AssertionError("the stub has no __all__")


def _check(kernel: str, module: ModuleType, *, twin: bool) -> list[str]:
    """Every difference between the stub of `kernel` and `module` (the twin or the compiled)."""
    stub = _stub(kernel)
    problems: list[str] = []
    if sorted(getattr(module, "__all__", [])) != sorted(_stub_all(stub)):
        problems.append(f"__all__ {sorted(module.__all__)}, stub says {sorted(_stub_all(stub))}")
    twin_ast = ast.parse(Path(module.__file__ or "").read_text()) if twin else None
    declared: set[str] = set()
    for node in stub.body:
        if isinstance(node, ast.ImportFrom):
            # a re-export: the module must hand out that very object
            source = importlib.import_module(
                f"infinitic._core.{node.module}" if node.level else str(node.module)
            )
            for alias in node.names:
                if alias.asname == alias.name:
                    declared.add(alias.name)
                    if getattr(module, alias.name, None) is not getattr(source, alias.name):
                        problems.append(f"{alias.name}: not the object of {source.__name__}")
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            declared.add(name)
            expected = _declared_type(node.annotation)
            if not hasattr(module, name):
                problems.append(f"{name}: missing")
            elif expected is not None and not isinstance(getattr(module, name), expected):
                problems.append(
                    f"{name}: a {type(getattr(module, name)).__name__}, stub says {ast.unparse(node.annotation)}"
                )
        elif isinstance(node, ast.Assign) and twin:
            for target in node.targets:
                if (
                    isinstance(target, ast.Name)
                    and target.id != "__all__"
                    and not hasattr(module, target.id)
                ):
                    problems.append(f"{target.id}: missing")
        elif isinstance(node, ast.FunctionDef):
            declared.add(node.name)
            if not hasattr(module, node.name):
                problems.append(f"{node.name}(): missing")
            else:
                problems += _compare(node.name, node, getattr(module, node.name), annotations=twin)
        elif isinstance(node, ast.ClassDef):
            declared.add(node.name)
            cls = getattr(module, node.name, None)
            if not isinstance(cls, type):
                problems.append(f"class {node.name}: missing")
                continue
            problems += _check_class(node, cls, twin_ast)
    problems += [
        f"{name}: in the stub's __all__, not declared there"
        for name in _stub_all(stub)
        if name not in declared
    ]
    if twin:
        # nothing public that the twin defines may be missing from the stub
        for name, value in vars(module).items():
            if (
                not name.startswith("_")
                and getattr(value, "__module__", None) == module.__name__
                and (inspect.isclass(value) or inspect.isfunction(value))
                and name not in declared
            ):
                problems.append(f"{name}: public, not in the stub")
    return problems


def _check_class(stub: ast.ClassDef, cls: type, twin_ast: ast.Module | None) -> list[str]:
    problems: list[str] = []
    members = vars(cls)
    attributes = _self_attributes(twin_ast, stub.name) if twin_ast is not None else {}
    declared: set[str] = set()
    for node in stub.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
            declared.add(name)
            if twin_ast is None:
                if not hasattr(cls, name):
                    problems.append(f"{stub.name}.{name}: missing")
            elif name not in attributes and name not in members:
                problems.append(f"{stub.name}.{name}: not an attribute of the twin")
            elif attributes.get(name) is not None and _norm(attributes[name]) != _norm(
                ast.unparse(node.annotation)
            ):
                problems.append(
                    f"{stub.name}.{name}: annotation {attributes[name]}, stub says {ast.unparse(node.annotation)}"
                )
        elif isinstance(node, ast.FunctionDef):
            where = f"{stub.name}.{node.name}"
            declared.add(node.name)
            is_property = any(
                isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list
            )
            member = (
                members.get(node.name) if twin_ast is not None else getattr(cls, node.name, None)
            )
            if member is None:
                problems.append(f"{where}: missing")
            elif is_property:
                if twin_ast is not None and not isinstance(member, property):
                    problems.append(f"{where}: not a property")
                elif isinstance(member, property):
                    problems += _compare(where, node, member.fget, annotations=True)
            else:
                problems += _compare(where, node, member, annotations=twin_ast is not None)
    # nothing public on the class may be missing from the stub
    public = {n for n in [*members, *attributes] if not n.startswith("_")}
    problems += [f"{stub.name}.{n}: public, not in the stub" for n in sorted(public - declared)]
    return problems


def test_every_compiled_module_has_a_stub_and_a_pure_python_twin() -> None:
    stubs = sorted(p.name[1 : -len("_c.pyi")] for p in CORE.glob("_*_c.pyi"))
    twins = sorted(p.name[1 : -len("_py.py")] for p in CORE.glob("_*_py.py"))
    assert KERNELS, "no Cython source in infinitic/_core"
    assert stubs == KERNELS and twins == KERNELS


@pytest.mark.parametrize("kernel", KERNELS)
def test_stub_matches_the_pure_python_twin(kernel: str) -> None:
    assert _check(kernel, load(kernel, "py"), twin=True) == []


@pytest.mark.c_extension
@pytest.mark.parametrize("kernel", KERNELS)
def test_stub_matches_the_compiled_module(kernel: str) -> None:
    assert _check(kernel, load(kernel, "c"), twin=False) == []


# -- the built artifacts, in fresh virtualenvs ------------------------------------------------


def _run(command: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    # nothing may lead the child to the source tree or change what it builds; the script builds
    # for the interpreter that runs the tests
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "INFINITIC_"))}
    env["PYTHON"] = sys.executable
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


PROBE = (
    "import importlib, sys; "
    "kernels = sys.argv[1:]; "
    "impls = [importlib.import_module('infinitic._core.' + k).IMPLEMENTATION for k in kernels]; "
    "print(' '.join(impls)); "
    "print(importlib.import_module('infinitic').__file__); "
    "[print(sys.modules['infinitic._core._' + k + '_c'].__file__) for k, i in zip(kernels, impls) if i == 'c']"
)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_build_wheels_gives_an_sdist_and_a_wheel_that_install_and_run(tmp_path: Path) -> None:
    out, work, elsewhere = tmp_path / "out", tmp_path / "work", tmp_path / "elsewhere"
    elsewhere.mkdir()
    build = _run([ROOT / "scripts" / "build-wheels", "--out", out, "--work", work], ROOT, 800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "failed as it must" in build.stdout  # INFINITIC_REQUIRE_EXTENSIONS=1 without a compiler

    [wheel] = out.glob("*.whl")
    assert (
        "manylinux" in wheel.name and f"cp{sys.version_info[0]}{sys.version_info[1]}" in wheel.name
    )
    names = set(zipfile.ZipFile(wheel).namelist())
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for kernel in KERNELS:
        assert f"infinitic/_core/_{kernel}_c{suffix}" in names
        assert f"infinitic/_core/_{kernel}_c.pyi" in names
        assert f"infinitic/_core/_{kernel}_py.py" in names
    assert "infinitic/py.typed" in names and "infinitic/cli.py" in names
    # the dashboard's static files (no CDN: they ship in the wheel)
    assert {"infinitic/web/static/dashboard.css", "infinitic/web/static/dashboard.js"} <= names
    assert "infinitic-0.1.0.dist-info/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read("infinitic-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Programming Language :: Python :: 3.14" in metadata
    assert not [n for n in names if n.endswith(".c") or n.startswith("tests/") or "/tests/" in n]

    [sdist] = out.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert {"setup.py", "pyproject.toml", "MANIFEST.in", "wheels/smoke.py", "LICENSE"} <= members
    assert {f"infinitic/_core/_{k}_c.{ext}" for k in KERNELS for ext in ("pyx", "pyi")} <= members
    assert "infinitic/web/static/dashboard.js" in members
    assert not [m for m in members if m.endswith(".c") or m.startswith("tests/")]

    # the virtualenvs the script made: the wheel's, and the sdist's built with CC=/bin/false
    for venv, expected in ((work / "venv-wheel", "c"), (work / "venv-sdist", "py")):
        probe = _run([venv / "bin" / "python", "-c", PROBE, *KERNELS], elsewhere, 60)
        assert probe.returncode == 0, probe.stderr
        implementations, package, *compiled = probe.stdout.split("\n")[:-1]
        assert implementations.split() == [expected] * len(KERNELS)
        assert Path(package).is_relative_to(venv), package  # the install, not the source tree
        assert len(compiled) == (len(KERNELS) if expected == "c" else 0)
        assert all(Path(f).is_relative_to(venv) and f.endswith(suffix) for f in compiled)
        demo = _run([venv / "bin" / "infinitic", "demo"], elsewhere, 120)
        assert demo.returncode == 0, demo.stderr
        assert "     canceled the car" in demo.stdout


def test_package_metadata_has_the_license_and_classifiers(tmp_path: Path) -> None:
    """What a wheel's METADATA says (the slow test above checks a real wheel): the SPDX license
    with its file, the classifiers of every supported CPython, no deprecated license table."""
    code = (
        "import sys; from setuptools import build_meta; "
        "print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    env = {**os.environ, "INFINITIC_NO_EXTENSIONS": "1"}  # metadata only: nothing to compile
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "deprecated" not in run.stderr.lower(), run.stderr[-3000:]
    info = tmp_path / run.stdout.split()[-1]
    metadata = (info / "METADATA").read_text()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert (info / "licenses" / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    classifiers = {
        line.removeprefix("Classifier: ")
        for line in metadata.splitlines()
        if line.startswith("Classifier: ")
    }
    versions = {f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 15)}
    assert versions | {"Typing :: Typed"} <= classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # SPDX replaces them
    assert "Project-URL: " in metadata
