"""Outside `infinitic/client/`, nothing reads a client's private attributes: the CLI and the
dashboard act through the client's public methods and `infinitic.client.operations`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "infinitic"


def private_reads(source: str) -> list[str]:
    """`client._x` / `self.client._x` / `worker.client._x` in `source` (dunders aside)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") or isinstance(node.ctx, ast.Store):
            continue  # (the worker hands its storage to its own client: a write, not a read)
        owner = node.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if isinstance(name, str) and name.endswith("client"):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def modules_outside_the_client() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if (ROOT / "client") not in p.parents)


@pytest.mark.parametrize(
    "path", modules_outside_the_client(), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_private_attribute_of_a_client_is_read(path: Path) -> None:
    assert private_reads(path.read_text()) == []


def test_a_planted_private_read_is_found() -> None:
    source = "def f(client, worker):\n    client._steer('cancel')\n    worker.client._transport\n"
    assert sorted(private_reads(source)) == [
        "line 2: client._steer",
        "line 3: worker.client._transport",
    ]
