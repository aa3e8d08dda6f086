"""Users' code type-checks: the README's examples pass `mypy --strict` with no plugin, no
ignore and no config (so `empty-body` and `type-abstract` are on), every `reveal_type` shows the
type written in its `# revealed:` comment, and the mistakes in mistakes.py are refused with the
error code written on their line (the way msgspec and Temporal test their types)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLES = HERE / "readme_examples.py"
MISTAKES = HERE / "mistakes.py"
_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<kind>error|note): (?P<text>.*)$")


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int, str, str]]:
    pytest.importorskip("mypy")
    tmp = tmp_path_factory.mktemp("mypy")
    config = tmp / "mypy.ini"
    config.write_text("[mypy]\n")  # no project settings: what a user's fresh project gets
    # --follow-imports=silent: infinitic's own modules are checked by the project's mypy run;
    # an installed package is silent the same way for users
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp / "cache"),
            "--follow-imports=silent",
            "--show-error-codes",
            "--no-pretty",
            str(EXAMPLES),
            str(MISTAKES),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode in (0, 1), run.stderr + run.stdout
    found = []
    for line in run.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            found.append(
                (
                    Path(match["file"]).name,
                    int(match["line"]),
                    match["kind"],
                    match["text"],
                )
            )
    return found


def _marked(path: Path, marker: str) -> dict[int, str]:
    out = {}
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if f"# {marker}: " in text:
            out[number] = text.split(f"# {marker}: ", 1)[1].strip()
    return out


def test_readme_examples_pass_mypy_strict(mypy_output: list[tuple[str, int, str, str]]) -> None:
    errors = [
        f"{line}: {text}"
        for f, line, kind, text in mypy_output
        if kind == "error" and f == EXAMPLES.name
    ]
    assert errors == []


def test_reveal_type_shows_the_declared_types(
    mypy_output: list[tuple[str, int, str, str]],
) -> None:
    expected = _marked(EXAMPLES, "revealed")
    assert len(expected) > 15
    revealed = {
        line: text.removeprefix('Revealed type is "').removesuffix('"')
        for f, line, kind, text in mypy_output
        if kind == "note" and f == EXAMPLES.name and text.startswith("Revealed type is")
    }
    # mypy names the examples' module after its path from the project root
    revealed = {
        k: v.replace("tests.typing.readme_examples.", "readme_examples.")
        for k, v in revealed.items()
    }
    want = {k: re.sub(r"\bbuiltins\.", "", v) for k, v in expected.items()}
    assert revealed == want


def test_mistakes_are_refused_with_their_error_code(
    mypy_output: list[tuple[str, int, str, str]],
) -> None:
    expected = _marked(MISTAKES, "error")
    got = {
        line: text.rsplit("[", 1)[1].rstrip("]")
        for f, line, kind, text in mypy_output
        if kind == "error" and f == MISTAKES.name
    }
    assert got == expected
