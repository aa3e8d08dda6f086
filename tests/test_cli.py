"""The `infinitic` command, run as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infinitic", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_narrates_each_step() -> None:
    out = run("demo")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("1. greet('world')") and "hello world" in line for line in lines)
    assert any("succeeded at attempt 2" in line for line in lines)
    assert any("infinitic.errors.TimeoutError" in line for line in lines)
    assert any("failed at once: ValueError" in line for line in lines)
    assert any("tasks/s" in line for line in lines)
    assert "     hotel failed: no hotel available" in lines
    assert "     canceled the car" in lines and "     canceled the flight" in lines
    assert any("sagas (3 tasks each)" in line for line in lines)


def test_worker_with_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "w.yml"
    path.write_text("services:\n  - name: Echo\n    concurency: 2\n")
    out = run("worker", "-c", str(path))
    assert out.returncode == 2
    assert f"{path}: services[0].concurency: unknown key; did you mean 'concurrency'?" in out.stderr


def test_worker_runs_until_terminated(tmp_path: Path) -> None:
    import signal

    path = tmp_path / "w.yml"
    path.write_text(
        "name: cli\nservices:\n  - name: Echo\n    class: tests.sample_services.EchoServiceImpl\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "infinitic", "worker", "-c", str(path)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    with proc.stderr:
        assert "worker cli started, services: Echo" in proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
