"""Services and tasks end to end: client -> in-memory transport (real envelopes) -> executor."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from infinitic import InfiniticClient, SerializationError, TaskFailedError, TimeoutError
from infinitic.common import messages as m
from infinitic.transport.base import Topics
from tests import sample_services as s
from tests.helpers import running_worker, service


@pytest.fixture(autouse=True)
def _reset() -> None:
    s.RUNS.clear()
    s.BARRIER.clear()
    s.GATE.clear()


def test_sync_call_returns_typed_result() -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        echo = worker.client.new_service(s.EchoService)
        assert echo.echo("hi") == "hi"
        order = s.Order(7, s.Color.BLUE, datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc), ["a"])
        back = echo.order(order)
        assert back == s.Order(7, s.Color.BLUE, order.at, ["a", "checked"])
        assert echo.add(1) == 11 and echo.add(1, b=2) == 3


def test_dispatch_returns_handle_with_id_and_result() -> None:
    with running_worker(service("Echo", "EchoServiceImpl", concurrency=4)) as worker:
        client = worker.client
        echo = client.new_service(s.EchoService)
        handles = [client.dispatch(echo.echo, f"v{i}") for i in range(50)]
        assert len({h.id for h in handles}) == 50
        assert [h.result(timeout=10) for h in handles] == [f"v{i}" for i in range(50)]
        assert {r["task_id"] for r in s.RUNS} == {h.id for h in handles}


def test_handle_is_awaitable_from_asyncio_code() -> None:
    import asyncio

    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        client = worker.client
        echo = client.new_service(s.EchoService)

        async def main() -> list[str]:
            return list(
                await asyncio.gather(*(client.dispatch(echo.echo, str(i)) for i in range(5)))
            )

        assert asyncio.run(main()) == ["0", "1", "2", "3", "4"]


def test_async_service_method_runs_on_the_loop_with_context() -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        assert worker.client.new_service(s.EchoService).async_echo("x") == "x from async_echo"


def test_tags_and_meta_reach_the_task_context() -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        echo = worker.client.new_service(s.EchoService, tags={"user:42", "vip"}, meta={"k": b"v"})
        ctx = echo.context()
        assert ctx["tags"] == ["user:42", "vip"]
        assert ctx["meta"] == {"k": "v"}
        assert ctx["service_name"] == "Echo" and ctx["task_name"] == "context"
        assert ctx["workflow_id"] is None and ctx["workflow_name"] is None
        assert ctx["retry_index"] == 0 and ctx["retry_sequence"] == 0
        assert ctx["worker_name"] == "test-worker" and ctx["has_client"] is True
        assert len(str(ctx["task_id"])) == 36


def test_retry_index_last_error_and_meta_kept_across_retries() -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        echo = worker.client.new_service(s.EchoService, meta={"start": b"1"})
        assert echo.meta_roundtrip(2) == "attempt-0,attempt-1,attempt-2,start"
        assert [r["retry_index"] for r in s.RUNS] == [0, 1, 2]
        assert [r["retry_sequence"] for r in s.RUNS] == [0, 0, 0]
        assert s.RUNS[0]["last_error"] is None
        err = s.RUNS[2]["last_error"]
        assert isinstance(err, m.ErrorInfo)
        assert (err.name, err.message, err.worker_name) == (
            "ConnectionError",
            "failure #1",
            "test-worker",
        )
        assert "meta_roundtrip" in err.stack_trace
        assert len({r["task_id"] for r in s.RUNS}) == 1


def test_exhausted_retries_raise_task_failed_with_remote_error() -> None:
    with running_worker(service("Flaky", "FlakyServiceImpl")) as worker:
        flaky = worker.client.new_service(s.FlakyService)
        with pytest.raises(TaskFailedError) as info:
            flaky.always()
        assert "RuntimeError" in str(info.value) and "always fails" in str(info.value)
        assert info.value.last_error.name == "RuntimeError"
        # class-level @retry: maximum_retries=3 -> 4 attempts
        assert [r["retry_index"] for r in s.RUNS] == [0, 1, 2, 3]


def test_retry_succeeds_before_limit() -> None:
    with running_worker(service("Flaky", "FlakyServiceImpl")) as worker:
        assert worker.client.new_service(s.FlakyService).fail(2, "bad") == 2


def test_ignored_exception_subclass_fails_at_once() -> None:
    with running_worker(service("Flaky", "FlakyServiceImpl")) as worker:
        with pytest.raises(TaskFailedError) as info:
            worker.client.new_service(s.FlakyService).ignored()
        assert info.value.last_error.name == "tests.sample_services.SubBoom"
        assert len(s.RUNS) == 1


def test_error_chain_is_kept() -> None:
    with running_worker(
        service("Flaky", "FlakyServiceImpl", retry={"maximumRetries": 0})
    ) as worker:
        with pytest.raises(TaskFailedError) as info:
            worker.client.new_service(s.FlakyService).chained()
        err = info.value.last_error
        assert (err.name, err.message) == ("RuntimeError", "outer failure")
        assert err.cause is not None and err.cause.name == "KeyError"
        assert err.cause.message == "'root cause'"


def test_sync_task_past_runtime_timeout_is_retried_and_late_result_ignored() -> None:
    with running_worker(service("Flaky", "FlakyServiceImpl")) as worker:
        flaky = worker.client.new_service(s.FlakyService)
        assert flaky.hang(5.0) == "done at retry 1"
        err = s.RUNS[1]["last_error"]
        assert isinstance(err, m.ErrorInfo)
        assert err.name == "infinitic.errors.TimeoutError" and "0.2s" in err.message
        s.GATE.set()  # let the abandoned attempt return: its late result must be dropped


def test_async_task_past_runtime_timeout_is_retried() -> None:
    with running_worker(service("Flaky", "FlakyServiceImpl")) as worker:
        assert worker.client.new_service(s.FlakyService).async_hang(5.0) == "async done at retry 1"
        assert [r["retry_index"] for r in s.RUNS] == [0, 1]


def test_concurrency_runs_tasks_in_parallel() -> None:
    parties = 4
    s.BARRIER["p"] = threading.Barrier(parties)
    with running_worker(service("Echo", "EchoServiceImpl", concurrency=parties)) as worker:
        client = worker.client
        echo = client.new_service(s.EchoService)
        handles = [client.dispatch(echo.wait_barrier, "p") for _ in range(parties)]
        # Barrier.wait returns a distinct index to each of the parties that met there
        assert sorted(h.result(timeout=15) for h in handles) == list(range(parties))


def test_a_task_waiting_for_a_thread_has_not_started_its_runtime_timeout() -> None:
    # the transport hands over more messages than the service has threads: the ones beyond
    # wait for a thread, and their 0.6 s timeout counts from when they start, not from when
    # they arrived (the third one waits about 0.7 s before it runs for 0.35 s)
    s.ACTIVE.update(now=0, most=0)
    with running_worker(service("Queued", "QueuedServiceImpl", concurrency=1)) as worker:
        client = worker.client
        queued = client.new_service(s.QueuedService)
        handles = [client.dispatch(queued.nap, 0.35) for _ in range(3)]
        # each returns its retry index: 0, none of them timed out
        assert [h.result(timeout=15) for h in handles] == [0, 0, 0]
    assert [r["retry_index"] for r in s.RUNS] == [0, 0, 0]
    assert s.ACTIVE["most"] == 1


def test_async_tasks_run_at_most_concurrency_at_once() -> None:
    s.ACTIVE.update(now=0, most=0)
    with running_worker(service("Queued", "QueuedServiceImpl", concurrency=2)) as worker:
        client = worker.client
        queued = client.new_service(s.QueuedService)
        handles = [client.dispatch(queued.async_nap, 0.1) for _ in range(8)]
        assert [h.result(timeout=15) for h in handles] == [0] * 8
    assert s.ACTIVE["most"] == 2


def test_task_context_not_readable_from_a_thread_the_task_starts() -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        out = worker.client.new_service(s.EchoService).peek_from_thread()
        assert out.startswith("refused: infinitic.task is only readable while a task runs")


def test_non_serializable_argument_fails_at_the_caller() -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        echo = worker.client.new_service(s.EchoService)
        with pytest.raises(SerializationError, match="argument 'value' of Echo.echo"):
            echo.echo(object())
        assert s.RUNS == []


def test_wrong_arguments_fail_at_the_caller() -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        echo = worker.client.new_service(s.EchoService)
        with pytest.raises(TypeError, match="Echo.echo"):
            echo.echo("a", "b")
        with pytest.raises(AttributeError, match="no method 'nope'"):
            echo.nope("a")


def _send_raw(worker: object, service_name: str, task_name: str, args: bytes) -> TaskFailedError:
    """Sends a hand-made ExecuteTask, as a buggy or foreign client would, and waits for its reply."""
    from infinitic.client.handles import TaskHandle

    client: InfiniticClient = worker.client  # type: ignore[attr-defined]
    spec = client.new_service(s.EchoService)._spec.method("echo")
    import concurrent.futures

    future: concurrent.futures.Future[object] = concurrent.futures.Future()
    msg = m.ExecuteTask("mid", "tid-raw", service_name, task_name, args, reply_to=client._topic)
    client._pending["tid-raw"] = (future, spec)
    client._post(Topics.task_executor(service_name), msg, None, future)
    with pytest.raises(TaskFailedError) as info:
        TaskHandle("tid-raw", "raw", future).result(timeout=10)
    return info.value


@pytest.mark.parametrize(
    ("task_name", "args", "name", "message"),
    [
        ("nope", b"[]", "infinitic.errors.UnknownTaskError", "has no task 'nope'"),
        ("echo", b"[1, 2, 3]", "TypeError", "called with 3 arguments"),
        (
            "echo",
            b"{not json",
            "infinitic.errors.SerializationError",
            "cannot decode the arguments",
        ),
        ("echo", b'{"a": 1}', "TypeError", "not a JSON array"),
        ("echo", b"[42]", "infinitic.errors.SerializationError", "argument 'value' of Echo.echo"),
    ],
)
def test_unrunnable_messages_fail_at_once(
    task_name: str, args: bytes, name: str, message: str
) -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        error = _send_raw(worker, "Echo", task_name, args)
        assert error.last_error.name == name
        assert message in error.last_error.message
        assert s.RUNS == []


def test_garbage_bytes_go_to_dead_letters_and_worker_keeps_going() -> None:
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        transport = worker.transport
        worker_loop = worker.client._runtime
        for junk in (b"", b"garbage", b"IN\x01\xff\xff"):
            worker_loop.run(transport.send(Topics.task_executor("Echo"), junk))
        assert worker.client.new_service(s.EchoService).echo("still alive") == "still alive"
        dead = transport.dead_letters  # type: ignore[attr-defined]
        assert len(dead) == 3
        assert all(
            d.topic == "task-executor:Echo" and "undecodable envelope" in d.reason for d in dead
        )


def test_result_timeout_raises_infinitic_timeout_error() -> None:
    s.BARRIER["never"] = threading.Barrier(2)
    with running_worker(service("Echo", "EchoServiceImpl")) as worker:
        client = worker.client
        handle = client.dispatch(client.new_service(s.EchoService).wait_barrier, "never")
        with pytest.raises(TimeoutError, match="no result for Echo.wait_barrier"):
            handle.result(timeout=0.05)
        s.BARRIER["never"].abort()


def test_service_tag_engine_lists_running_tasks_by_tag() -> None:
    s.BARRIER["tagged"] = threading.Barrier(3)
    with running_worker(service("Echo", "EchoServiceImpl", concurrency=3)) as worker:
        client = worker.client
        echo = client.new_service(s.EchoService, tags={"batch:7"})
        handles = [client.dispatch(echo.wait_barrier, "tagged") for _ in range(2)]
        untagged = client.dispatch(client.new_service(s.EchoService).echo, "x")
        assert untagged.result(timeout=10) == "x"
        # both tagged tasks are inside the barrier (running): their ids are listed
        ids = []
        for _ in range(100):
            ids = client.get_task_ids_by_tag(s.EchoService, "batch:7")
            if len(ids) == 2:
                break
        assert sorted(ids) == sorted(h.id for h in handles)
        s.BARRIER["tagged"].wait(timeout=10)
        for h in handles:
            h.result(timeout=10)
        assert client.get_task_ids_by_tag(s.EchoService, "batch:7") == []
