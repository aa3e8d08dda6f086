"""`pip install .` into a fresh virtualenv compiles the kernels, and `infinitic demo` runs."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_pip_install_then_demo_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", str(ROOT)], check=True, timeout=900)
    probe = subprocess.run(
        [
            python,
            "-c",
            # envelope.py is the selector: the module it picked is the compiled _envelope_c
            "import sys, infinitic._core.envelope as e, infinitic._core.replay as r; "
            "print(sys.modules['infinitic._core._envelope_c'].__file__); "
            "print(e.IMPLEMENTATION + r.IMPLEMENTATION)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    envelope_file, implementations = probe.stdout.split()
    assert envelope_file.endswith(".so") and "site-packages" in envelope_file
    assert implementations == "cc"
    demo = subprocess.run(
        [env_dir / "bin" / "infinitic", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    assert "     canceled the car" in demo.stdout
