"""What users install: (slow) scripts/build-wheels gives an sdist and a wheel that hold the
right files and work in fresh virtualenvs: compiled kernels from the wheel, the pure-Python
twins from the sdist without a compiler, `infinitic demo` from both. (The compiled kernels'
surface is checked against their twins, the type source, in tests/core/test_twins.py.)"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "infinitic" / "_core"
KERNELS = sorted(p.name[1 : -len("_c.pyx")] for p in CORE.glob("_*_c.pyx"))


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
    assert {f"infinitic/_core/_{k}_{ext}" for k in KERNELS for ext in ("c.pyx", "py.py")} <= members
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
