"""Which kernels run is visible: `infinitic --version` names them, and a process that wanted
the compiled kernels but runs on the twins (a build without a compiler) says so once, on stderr,
unless INFINITIC_NO_EXTENSIONS chose the twins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infinitic._core import KERNELS, kernels_in_use
from infinitic._core._compat import USE_EXTENSIONS

ROOT = Path(__file__).resolve().parent.parent
# a process whose compiled kernels cannot be imported, as after a build without a compiler
_BLOCK_COMPILED = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("infinitic._core._") and name.endswith("_c"):
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, Missing())
"""
_VERSION = "from infinitic.cli import main; import infinitic.client; main(['--version'])"
_WARNING = "the compiled kernels are not installed"


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "INFINITIC_NO_EXTENSIONS"}
    environ.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=60
    )


def test_missing_kernels_are_reported_once_and_by_version() -> None:
    run = _run(_BLOCK_COMPILED + _VERSION)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count(_WARNING) == 1, run.stderr
    assert "INFINITIC_NO_EXTENSIONS=1" in run.stderr
    assert "kernels: backoff: pure-Python, envelope: pure-Python, replay: pure-Python" in run.stdout
    assert "compiled modules missing: backoff, envelope, replay" in run.stdout


def test_twins_chosen_on_purpose_are_silent() -> None:
    run = _run(_BLOCK_COMPILED + _VERSION, INFINITIC_NO_EXTENSIONS="1")
    assert run.returncode == 0, run.stderr
    assert _WARNING not in run.stderr
    assert "kernels: pure-Python twins (INFINITIC_NO_EXTENSIONS is set)" in run.stdout


def test_version_names_the_kernels_of_this_process() -> None:
    run = _run(_VERSION, **({} if USE_EXTENSIONS else {"INFINITIC_NO_EXTENSIONS": "1"}))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("infinitic 0.")
    used = kernels_in_use()
    assert set(used) == set(KERNELS)
    if all(v == "compiled" for v in used.values()):
        assert "kernels: compiled (Cython)" in run.stdout
    assert _WARNING not in run.stderr
