"""Every module imports on its own in a fresh interpreter (no import cycles)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "infinitic").rglob("*.py")
    if p.name != "__main__.py"  # runs the CLI when imported
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone(module: str) -> None:
    subprocess.run([sys.executable, "-W", "error", "-c", f"import {module}"], check=True, cwd=ROOT)
