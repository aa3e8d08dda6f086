"""Timeout and retry resolution: worker config > method > class > protocol > default."""

from __future__ import annotations

import pytest

from infinitic import TaskFailedError, task
from infinitic._core.backoff import ExponentialBackoff
from infinitic.service.policies import DEFAULT_RETRY, FixedTimeout, WithTimeout
from infinitic.service.spec import describe, resolve_retry, resolve_timeout
from tests import sample_services as s
from tests.helpers import running_worker, service


def timeout_of(instance: object, method: str, configured: float | None = None) -> float | None:
    policy = resolve_timeout(instance, method, FixedTimeout(configured) if configured else None)
    return None if policy is None else policy.get_timeout_in_seconds()


def test_timeout_worker_config_wins() -> None:
    assert timeout_of(s.ClassLevelImpl(), "by_method", configured=9.0) == 9.0


def test_timeout_method_decorator_beats_class() -> None:
    assert timeout_of(s.ClassLevelImpl(), "by_method") == 0.33


def test_timeout_class_decorator_beats_protocol() -> None:
    assert timeout_of(s.ClassLevelImpl(), "by_class") == 0.22


def test_timeout_protocol_beats_default() -> None:
    assert timeout_of(s.ProtocolLevelImpl(), "by_method") == 0.11


def test_timeout_default_is_none() -> None:
    assert resolve_timeout(s.DefaultImpl(), "by_method", None) is None


def test_retry_each_rung() -> None:
    configured = ExponentialBackoff(maximum_retries=2)
    assert resolve_retry(s.ClassLevelImpl(), "by_method", configured) is configured
    by_method = resolve_retry(s.ClassLevelImpl(), "by_method", None)
    assert isinstance(by_method, ExponentialBackoff) and by_method.maximum_retries == 0
    assert isinstance(resolve_retry(s.ClassLevelImpl(), "by_class", None), s.RetryOnce)
    protocol = resolve_retry(s.ProtocolLevelImpl(), "by_method", None)
    assert protocol.get_seconds_before_retry(0, ValueError()) == 7.0
    assert resolve_retry(s.DefaultImpl(), "by_method", None) is DEFAULT_RETRY


def test_default_retry_is_infinitic_backoff() -> None:
    assert isinstance(DEFAULT_RETRY, ExponentialBackoff)
    assert (DEFAULT_RETRY.minimum_seconds, DEFAULT_RETRY.maximum_seconds) == (1.0, 1000.0)
    assert (DEFAULT_RETRY.backoff_coefficient, DEFAULT_RETRY.random_factor) == (2.0, 0.5)
    assert DEFAULT_RETRY.maximum_retries == 11


def test_interface_timeout_is_a_caller_deadline_not_a_runtime_one() -> None:
    from infinitic import name, timeout

    @name("Deadline")
    class Deadline:
        @timeout(seconds=3)
        def run(self) -> None: ...

    class DeadlineImpl(Deadline):
        def run(self) -> None:
            return None

    assert describe(Deadline).method("run").caller_timeout == 3.0
    assert resolve_timeout(DeadlineImpl(), "run", None) is None


def test_with_timeout_reading_task_context_applies_at_runtime() -> None:
    with running_worker(service("Policies", "SlowByProtocol")) as worker:
        fast = worker.client.new_service(s.PolicyService, tags={"fast"})
        with pytest.raises(TaskFailedError) as info:
            fast.by_method()
        assert info.value.last_error.name == "infinitic.errors.TimeoutError"
        assert worker.client.new_service(s.PolicyService).by_method() == 0.0


def test_worker_config_timeout_and_retry_override_decorators() -> None:
    cfg = service(
        "Flaky",
        "FlakyServiceImpl",
        timeoutInSeconds=0.05,
        retry={"maximumRetries": 2, "minimumSeconds": 0.01, "randomFactor": 0},
    )
    with running_worker(cfg) as worker:
        flaky = worker.client.new_service(s.FlakyService)
        assert flaky.hang(5.0) == "done at retry 1"
        err = s.RUNS[1]["last_error"]
        assert err.name == "infinitic.errors.TimeoutError"  # type: ignore[union-attr]
        assert "0.05s" in err.message  # type: ignore[union-attr]  # the decorator said 0.2s
        s.RUNS.clear()
        with pytest.raises(TaskFailedError):
            flaky.always()
        # the config allows 2 retries; the class decorator said 3
        assert [r["retry_index"] for r in s.RUNS] == [0, 1, 2]
        s.GATE.set()


def test_task_context_is_injectable_in_tests() -> None:
    from infinitic import TaskContext

    impl = s.EchoServiceImpl()
    with task.use_context(TaskContext("t1", "Echo", "context", tags=frozenset({"a"}))):
        assert impl.context()["task_id"] == "t1"
        assert impl.context()["tags"] == ["a"]
    with pytest.raises(RuntimeError, match="only readable while a task runs"):
        impl.context()


class _SelfTimed(WithTimeout):
    """A service without an interface that implements a policy protocol itself."""

    def get_timeout_in_seconds(self) -> float | None:
        return 1.5

    def work(self) -> int:
        return 1


def test_a_policy_protocol_is_not_taken_for_an_interface() -> None:
    spec = describe(_SelfTimed)
    assert spec.interface is _SelfTimed
    assert spec.name == f"{__name__}._SelfTimed"
    assert list(spec.methods) == ["work"]
