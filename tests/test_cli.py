"""The `infinitic` command, run as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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


def test_actions_on_the_in_memory_transport_say_why_they_cannot_work(tmp_path: Path) -> None:
    path = tmp_path / "w.yml"
    path.write_text("name: cli\nstorage: {sqlite: {path: " + str(tmp_path / "s.db") + "}}\n")
    out = run("workflow", "retry-tasks", "-c", str(path), "Basic", "some-id")
    assert out.returncode == 2
    assert "transport of" in out.stderr and "is inMemory" in out.stderr
    assert "pulsar" in out.stderr and "worker.client.retry_tasks" in out.stderr
    memory = tmp_path / "m.yml"
    memory.write_text("name: cli\n")
    out = run("workflow", "list", "-c", str(memory))
    assert out.returncode == 2 and "no other process can read it" in out.stderr


def test_an_unreachable_storage_is_one_line_with_the_traceback_at_v(tmp_path: Path) -> None:
    path = tmp_path / "w.yml"
    path.write_text("name: cli\nstorage: {redis: {host: 127.0.0.1, port: 9, retrySeconds: 0}}\n")
    out = run("workflow", "list", "-c", str(path))
    assert out.returncode == 1
    assert out.stderr.startswith("infinitic: storage error: redis storage: cannot connect")
    assert len(out.stderr.strip().splitlines()) == 1
    verbose = run("-v", "workflow", "list", "-c", str(path))
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


@pytest.mark.slow
@pytest.mark.pulsar
@pytest.mark.redis
def test_operate_a_worker_of_another_process(
    tmp_path: Path, pulsar_transport: dict[str, Any], redis_server: Any
) -> None:
    """list --status failed, describe --json, retry-tasks, then list --status completed."""
    import json
    import os
    import time
    import uuid

    import yaml

    from infinitic import InfiniticClient, WorkflowFailedError

    options = {k: v for k, v in redis_server.storage_options().items() if v is not None}
    config = {
        "name": "ops",
        "transport": pulsar_transport,
        "storage": {"redis": {**options, "keyPrefix": f"t{uuid.uuid4().hex[:8]}:"}},
        "services": [
            {
                "name": "Flaky",
                "class": "tests.ops_app.FlakyServiceImpl",
                "retry": {"maximumRetries": 0},
            }
        ],
        "workflows": [{"name": "OpsFlow", "class": "tests.ops_app.OpsWorkflowImpl"}],
    }
    path = tmp_path / "infinitic.yml"
    path.write_text(yaml.safe_dump(config))
    broken = tmp_path / "broken"
    broken.touch()
    env = {**os.environ, "OPS_BROKEN_FLAG": str(broken)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "infinitic", "worker", "-c", str(path)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    try:
        assert "worker ops started" in worker.stderr.readline()
        tag = f"ops:{uuid.uuid4().hex}"
        with InfiniticClient.from_config_file(path) as client:
            from tests.ops_app import OpsWorkflow

            handle = client.dispatch(client.new_workflow(OpsWorkflow, tags={tag}).run, 21)
            with pytest.raises(WorkflowFailedError):
                handle.result(timeout=60)

        def listed(status: str) -> list[str]:
            out = run(
                "workflow", "list", "-c", str(path), "--status", status, "--tag", tag, "--json"
            )
            assert out.returncode == 0, out.stderr
            return [item["id"] for item in json.loads(out.stdout)["items"]]

        def eventually(status: str) -> list[str]:
            deadline = time.monotonic() + 60
            found = listed(status)
            while not found and time.monotonic() < deadline:
                time.sleep(0.2)
                found = listed(status)
            return found

        assert eventually("failed") == [handle.id]
        table = run("workflow", "list", "-c", str(path), "--tag", tag)
        assert table.stdout.splitlines()[0].split()[:3] == ["ID", "NAME", "STATUS"]
        assert f"{handle.id}  OpsFlow  failed" in table.stdout
        out = run("workflow", "describe", "-c", str(path), "OpsFlow", handle.id, "--json")
        assert out.returncode == 0, out.stderr
        info = json.loads(out.stdout)
        assert info["status"] == "failed" and info["tags"] == [tag]
        (task,) = info["method_runs"][0]["commands"]
        assert (task["target"], task["status"], task["args"]) == ("Flaky.work", "failed", [21])
        assert task["error"]["name"] == "RuntimeError"
        assert task["error"]["message"] == "not fixed yet"

        broken.unlink()  # the fix
        out = run("workflow", "retry-tasks", "-c", str(path), "OpsFlow", handle.id)
        assert out.returncode == 0, out.stderr
        assert eventually("completed") == [handle.id]
        assert listed("failed") == []
        out = run("workflow", "describe", "-c", str(path), "OpsFlow", handle.id)
        assert f"OpsFlow {handle.id}: completed" in out.stdout and "result: 42" in out.stdout
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        worker.stderr.close()


def test_list_and_describe_read_the_storage_of_a_running_embedded_worker(tmp_path: Path) -> None:
    """The embedded default (in-memory transport, SQLite): the CLI opens the storage alone."""
    import json

    import yaml

    from infinitic import WorkflowFailedError
    from tests import sample_workflows as sw
    from tests.helpers import config, workflow_worker

    storage = {"sqlite": {"path": str(tmp_path / "state.db")}}
    path = tmp_path / "infinitic.yml"
    path.write_text(yaml.safe_dump(config(storage)))
    with workflow_worker(storage) as worker:
        client = worker.client
        done = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={"cli"}).sequential, 2)
        failed = client.dispatch(client.new_workflow(sw.BasicWorkflow, tags={"cli"}).failing)
        assert done.result(timeout=30) == 1
        with pytest.raises(WorkflowFailedError):
            failed.result(timeout=30)
        out = run("workflow", "list", "-c", str(path), "--tag", "cli", "--json")
        assert out.returncode == 0, out.stderr
        listed = {item["id"]: item["status"] for item in json.loads(out.stdout)["items"]}
        assert listed == {done.id: "completed", failed.id: "failed"}
        out = run("workflow", "describe", "-c", str(path), "Basic", failed.id)
        assert out.returncode == 0, out.stderr
        assert f"Basic {failed.id}: failed" in out.stdout
        assert "  ended " not in out.stdout and "kept until retried or canceled" in out.stdout
        assert "Math.fail" in out.stdout and "ValueError: boom" in out.stdout
        out = run("workflow", "list", "-c", str(path), "--cursor", "nonsense")
        assert out.returncode == 2 and "not a cursor of list_workflows" in out.stderr
