"""Workflow history replay (matching and step evaluation), over the compiled and twin kernels."""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.kernels import ReplayKernel, load

ONGOING, UNKNOWN, CANCELED, FAILED, TIMED_OUT, COMPLETED = range(6)


def _history(impl: ReplayKernel, *commands: tuple[Any, ...]) -> Any:
    history = impl.History()
    for command in commands:
        history.add(*command)
    return history


# --- constants and columns -----------------------------------------------------------------


def test_constants(replay_impl: ReplayKernel) -> None:
    assert (
        replay_impl.ONGOING,
        replay_impl.UNKNOWN,
        replay_impl.CANCELED,
        replay_impl.FAILED,
        replay_impl.TIMED_OUT,
        replay_impl.COMPLETED,
    ) == (0, 1, 2, 3, 4, 5)
    assert replay_impl.STATUS_NAMES == (
        "ongoing",
        "unknown",
        "canceled",
        "failed",
        "timed_out",
        "completed",
    )
    assert (replay_impl.CHECK_NONE, replay_impl.CHECK_SIMPLE, replay_impl.CHECK_STRICT) == (
        0,
        1,
        2,
    )


def test_add_fills_the_columns(replay_impl: ReplayKernel) -> None:
    h = replay_impl.History()
    assert len(h) == 0
    assert h.add("task", "S.m", "h1", COMPLETED, 3) == 0
    signals = [4, 6]
    assert h.add("receive", "ch", "", ONGOING, -1, signals) == 1
    assert h.add("timer", "", "", ONGOING, -1, []) == 2
    assert len(h) == 3
    assert h.kinds == ["task", "receive", "timer"]
    assert h.targets == ["S.m", "ch", ""]
    assert h.args_hashes == ["h1", "", ""]
    assert h.statuses == [COMPLETED, ONGOING, ONGOING]
    assert h.completed_at == [3, -1, -1]
    assert h.signal_at == [[], [4, 6], []]
    for column in (h.kinds, h.targets, h.args_hashes, h.statuses, h.completed_at, h.signal_at):
        assert type(column) is list
    signals.append(9)  # the history keeps its own copy
    assert h.signal_at[1] == [4, 6]
    h.add("receive", "ch", "", ONGOING, -1, (n for n in [1, 2]))
    assert h.signal_at[3] == [1, 2]


def test_columns_are_live(replay_impl: ReplayKernel) -> None:
    """Mutating a column is seen by the next evaluate, as with plain attributes."""
    h = _history(replay_impl, ("task", "S.m", "", ONGOING, -1))
    assert h.evaluate(("c", 0), 10) == (ONGOING, ("c", 0), -1)
    h.statuses[0] = FAILED
    h.completed_at[0] = 4
    assert h.evaluate(("c", 0), 10) == (FAILED, ("c", 0), 4)
    h.signal_at[0].append(2)
    assert h.evaluate(("r", 0, 0), 10) == (COMPLETED, ("r", 0, 0), 2)


@pytest.mark.parametrize("status", [-1, 6, 100, -(2**70), 2**70, 5.5])
def test_add_rejects_unknown_status(replay_impl: ReplayKernel, status: Any) -> None:
    h = replay_impl.History()
    with pytest.raises(ValueError, match=f"^unknown command status {status}$"):
        h.add("task", "S.m", "", status, 0)
    assert len(h) == 0
    assert h.statuses == [] and h.signal_at == []


def test_add_accepts_every_status(replay_impl: ReplayKernel) -> None:
    h = replay_impl.History()
    for status in range(6):
        assert h.add("task", "S.m", "", status, status) == status
    assert h.statuses == [0, 1, 2, 3, 4, 5]


def test_add_with_a_bad_status_type(replay_impl: ReplayKernel) -> None:
    with pytest.raises(TypeError, match="'<=' not supported"):
        replay_impl.History().add("task", "S.m", "", "5", 0)


def test_failed_add_leaves_columns_aligned(replay_impl: ReplayKernel) -> None:
    h = _history(replay_impl, ("task", "S.m", "", COMPLETED, 1))
    with pytest.raises(TypeError, match="'int' object is not iterable"):
        h.add("receive", "ch", "", ONGOING, -1, 7)
    assert len(h) == 1
    assert [len(c) for c in (h.targets, h.statuses, h.completed_at, h.signal_at)] == [1] * 4


def test_pickle_and_copy(replay_impl: ReplayKernel) -> None:
    h = _history(replay_impl, ("task", "S.m", "x", COMPLETED, 3), ("receive", "ch", "", 0, -1, [5]))
    clone = pickle.loads(pickle.dumps(h))
    assert type(clone) is type(h)
    assert clone.kinds == h.kinds and clone.signal_at == h.signal_at
    assert clone.evaluate(("r", 1, 0), 9) == h.evaluate(("r", 1, 0), 9)
    assert copy.copy(h).kinds is h.kinds
    assert copy.deepcopy(h).signal_at == h.signal_at


# --- mismatch ------------------------------------------------------------------------------


@pytest.fixture
def recorded(replay_impl: ReplayKernel) -> Any:
    return _history(
        replay_impl,
        ("task", "Billing.charge", "args-1", COMPLETED, 2),
        ("timer", "", "", COMPLETED, 4),
        ("workflow", "Child.run", "args-2", ONGOING, -1),
    )


def test_matching_command_matches_in_every_mode(recorded: Any) -> None:
    for mode in (0, 1, 2):
        assert recorded.mismatch(0, "task", "Billing.charge", "args-1", mode) is None
        assert recorded.mismatch(2, "workflow", "Child.run", "args-2", mode) is None


def test_check_none_compares_nothing(recorded: Any) -> None:
    assert recorded.mismatch(0, "timer", "Other.x", "zzz", 0) is None
    assert recorded.mismatch(99, "timer", "Other.x", "zzz", 0) is None  # not even the index


def test_check_simple(recorded: Any) -> None:
    assert (
        recorded.mismatch(0, "timer", "Billing.charge", "args-1", 1)
        == "expected a task command, found a timer command"
    )
    assert (
        recorded.mismatch(0, "task", "Billing.refund", "args-1", 1)
        == "expected Billing.charge, found Billing.refund"
    )
    assert recorded.mismatch(0, "task", "Billing.charge", "other-args", 1) is None
    # the kind is compared first
    assert (
        recorded.mismatch(1, "task", "Billing.charge", "", 1)
        == "expected a timer command, found a task command"
    )


def test_check_strict(recorded: Any) -> None:
    assert (
        recorded.mismatch(0, "task", "Billing.charge", "other-args", 2)
        == "the arguments of Billing.charge changed"
    )
    assert (
        recorded.mismatch(2, "task", "Child.run", "args-2", 2)
        == "expected a workflow command, found a task command"
    )
    assert (
        recorded.mismatch(2, "workflow", "Child.other", "x", 2)
        == "expected Child.run, found Child.other"
    )


def test_unknown_mode_number_checks_like_simple(recorded: Any) -> None:
    assert recorded.mismatch(0, "task", "Billing.charge", "other-args", 7) is None
    assert recorded.mismatch(0, "task", "X.y", "args-1", 7) == "expected Billing.charge, found X.y"


def test_mismatch_indexes_like_a_list(recorded: Any) -> None:
    assert recorded.mismatch(-1, "workflow", "Child.run", "args-2", 2) is None
    assert recorded.mismatch(-3, "timer", "", "", 1) == (
        "expected a task command, found a timer command"
    )
    with pytest.raises(IndexError, match="^list index out of range$"):
        recorded.mismatch(3, "task", "Billing.charge", "", 1)
    with pytest.raises(IndexError, match="^list index out of range$"):
        recorded.mismatch(-4, "task", "Billing.charge", "", 1)
    with pytest.raises(IndexError):
        recorded.mismatch(2**80, "task", "Billing.charge", "", 1)
    with pytest.raises(TypeError, match="list indices must be integers or slices, not str"):
        recorded.mismatch("0", "task", "Billing.charge", "", 1)


# --- evaluate: leaves ----------------------------------------------------------------------


def test_command_leaf(replay_impl: ReplayKernel) -> None:
    h = _history(
        replay_impl,
        ("task", "S.a", "", COMPLETED, 3),
        ("task", "S.b", "", FAILED, 5),
        ("task", "S.c", "", ONGOING, -1),
        ("task", "S.d", "", CANCELED, 0),
        ("task", "S.e", "", TIMED_OUT, 7),
        ("task", "S.f", "", UNKNOWN, 8),
    )
    assert h.evaluate(("c", 0), 3) == (COMPLETED, ("c", 0), 3)
    assert h.evaluate(("c", 0), 100) == (COMPLETED, ("c", 0), 3)
    assert h.evaluate(("c", 1), 5) == (FAILED, ("c", 1), 5)
    assert h.evaluate(("c", 2), 100) == (ONGOING, ("c", 2), -1)
    assert h.evaluate(("c", 3), 0) == (CANCELED, ("c", 3), 0)
    assert h.evaluate(("c", 4), 7) == (TIMED_OUT, ("c", 4), 7)
    assert h.evaluate(("c", 5), 8) == (UNKNOWN, ("c", 5), 8)
    assert h.evaluate(("c", -1), 8) == (UNKNOWN, ("c", -1), 8)


def test_as_of_before_completion_is_ongoing(replay_impl: ReplayKernel) -> None:
    h = _history(replay_impl, ("task", "S.a", "", COMPLETED, 3), ("task", "S.b", "", FAILED, 5))
    assert h.evaluate(("c", 0), 2) == (ONGOING, ("c", 0), -1)
    assert h.evaluate(("c", 1), 4) == (ONGOING, ("c", 1), -1)
    assert h.evaluate(("c", 0), -1) == (ONGOING, ("c", 0), -1)


def test_deciding_leaf_is_the_given_step(replay_impl: ReplayKernel) -> None:
    h = _history(replay_impl, ("task", "S.a", "", COMPLETED, 3))
    step = ("c", 0)
    assert h.evaluate(step, 5)[1] is step


def test_signal_leaf(replay_impl: ReplayKernel) -> None:
    h = _history(
        replay_impl,
        ("receive", "ch", "", ONGOING, -1, [2, 6, 9]),
        ("receive", "ch", "", CANCELED, 5, [3]),
        ("receive", "ch", "", COMPLETED, 4, [1, 4]),  # a receive with limit=2, done
        ("receive", "ch", "", FAILED, 7),
    )
    # the n-th signal, before and after it arrived
    assert h.evaluate(("r", 0, 0), 2) == (COMPLETED, ("r", 0, 0), 2)
    assert h.evaluate(("r", 0, 0), 1) == (ONGOING, ("r", 0, 0), -1)
    assert h.evaluate(("r", 0, 1), 5) == (ONGOING, ("r", 0, 1), -1)
    assert h.evaluate(("r", 0, 1), 6) == (COMPLETED, ("r", 0, 1), 6)
    assert h.evaluate(("r", 0, 2), 100) == (COMPLETED, ("r", 0, 2), 9)
    assert h.evaluate(("r", 0, 3), 100) == (ONGOING, ("r", 0, 3), -1)
    # the receive command was canceled: signals before it still count, later ones are canceled
    assert h.evaluate(("r", 1, 0), 3) == (COMPLETED, ("r", 1, 0), 3)
    assert h.evaluate(("r", 1, 1), 4) == (ONGOING, ("r", 1, 1), -1)
    assert h.evaluate(("r", 1, 1), 5) == (CANCELED, ("r", 1, 1), 5)
    assert h.evaluate(("r", 1, 1), 50) == (CANCELED, ("r", 1, 1), 5)
    # a completed receive (limit reached) never delivers more: ongoing, not completed
    assert h.evaluate(("r", 2, 1), 4) == (COMPLETED, ("r", 2, 1), 4)
    assert h.evaluate(("r", 2, 2), 100) == (ONGOING, ("r", 2, 2), -1)
    # a failed receive without signals
    assert h.evaluate(("r", 3, 0), 6) == (ONGOING, ("r", 3, 0), -1)
    assert h.evaluate(("r", 3, 0), 7) == (FAILED, ("r", 3, 0), 7)
    # a negative n indexes like a list
    assert h.evaluate(("r", 0, -1), 100) == (COMPLETED, ("r", 0, -1), 9)
    with pytest.raises(IndexError):
        h.evaluate(("r", 3, -1), 100)


# --- evaluate: all / any -------------------------------------------------------------------


@pytest.fixture
def mixed(replay_impl: ReplayKernel) -> Any:
    return _history(
        replay_impl,
        ("task", "S.a", "", COMPLETED, 3),  # 0
        ("task", "S.b", "", COMPLETED, 6),  # 1
        ("task", "S.c", "", FAILED, 5),  # 2
        ("task", "S.d", "", CANCELED, 4),  # 3
        ("task", "S.e", "", ONGOING, -1),  # 4
        ("task", "S.f", "", FAILED, 4),  # 5
        ("task", "S.g", "", COMPLETED, 3),  # 6
        ("receive", "ch", "", ONGOING, -1, [2]),  # 7
    )


def test_all_completes_at_the_latest_member(mixed: Any) -> None:
    step = ("all", (("c", 0), ("c", 1)))
    assert mixed.evaluate(step, 5) == (ONGOING, step, -1)
    assert mixed.evaluate(step, 6) == (COMPLETED, step, 6)
    assert mixed.evaluate(("all", (("c", 1), ("c", 0))), 9)[2] == 6


def test_all_earliest_failure_wins_even_while_others_are_ongoing(mixed: Any) -> None:
    step = ("all", (("c", 0), ("c", 2), ("c", 3), ("c", 4)))
    assert mixed.evaluate(step, 3) == (ONGOING, step, -1)
    assert mixed.evaluate(step, 4) == (CANCELED, ("c", 3), 4)
    assert mixed.evaluate(step, 5) == (CANCELED, ("c", 3), 4)


def test_all_failure_tie_goes_to_member_order(mixed: Any) -> None:
    assert mixed.evaluate(("all", (("c", 3), ("c", 5))), 9) == (CANCELED, ("c", 3), 4)
    assert mixed.evaluate(("all", (("c", 5), ("c", 3))), 9) == (FAILED, ("c", 5), 4)


def test_empty_all_and_any(mixed: Any) -> None:
    assert mixed.evaluate(("all", ()), 0) == (COMPLETED, ("all", ()), -1)
    assert mixed.evaluate(("any", ()), 0) == (ONGOING, ("any", ()), -1)


def test_any_earliest_completed_member(mixed: Any) -> None:
    step = ("any", (("c", 1), ("c", 0), ("c", 4)))
    assert mixed.evaluate(step, 2) == (ONGOING, step, -1)
    assert mixed.evaluate(step, 3) == (COMPLETED, ("c", 0), 3)
    assert mixed.evaluate(step, 9) == (COMPLETED, ("c", 0), 3)
    # a tie goes to member order
    assert mixed.evaluate(("any", (("c", 6), ("c", 0))), 9) == (COMPLETED, ("c", 6), 3)
    assert mixed.evaluate(("any", (("c", 0), ("c", 6))), 9) == (COMPLETED, ("c", 0), 3)


def test_any_ignores_failures_while_a_member_is_ongoing(mixed: Any) -> None:
    step = ("any", (("c", 2), ("c", 4)))
    assert mixed.evaluate(step, 9) == (ONGOING, step, -1)
    # a completion after a failure still wins
    assert mixed.evaluate(("any", (("c", 2), ("c", 1))), 9) == (COMPLETED, ("c", 1), 6)


def test_any_all_failed_is_the_first_failure_decided_at_the_last(mixed: Any) -> None:
    step = ("any", (("c", 2), ("c", 3), ("c", 5)))
    assert mixed.evaluate(step, 4) == (ONGOING, step, -1)
    assert mixed.evaluate(step, 5) == (FAILED, ("c", 2), 5)
    assert mixed.evaluate(("any", (("c", 3), ("c", 2))), 9) == (CANCELED, ("c", 3), 5)


def test_nesting(mixed: Any) -> None:
    inner_any = ("any", (("c", 4), ("r", 7, 0)))
    step = ("all", (("c", 0), inner_any, ("any", (("c", 2), ("c", 1)))))
    assert mixed.evaluate(step, 2) == (ONGOING, step, -1)
    assert mixed.evaluate(step, 5) == (ONGOING, step, -1)
    assert mixed.evaluate(step, 6) == (COMPLETED, step, 6)
    # a failure inside a nested all propagates with its leaf and index
    step = ("any", (("c", 4), ("all", (("c", 0), ("c", 2)))))
    assert mixed.evaluate(step, 9) == (ONGOING, step, -1)
    step = ("any", (("all", (("c", 0), ("c", 2))), ("all", (("c", 3),))))
    assert mixed.evaluate(step, 9) == (FAILED, ("c", 2), 5)
    # a nested any that completes decides with its own leaf
    step = ("all", (("any", (("c", 1), ("c", 6))), ("c", 0)))
    assert mixed.evaluate(step, 9) == (COMPLETED, step, 3)
    # lists work as well as tuples
    assert mixed.evaluate(["all", [["c", 0], ("c", 1)]], 9) == (
        COMPLETED,
        ["all", [["c", 0], ("c", 1)]],
        6,
    )


def test_recursion_limit(replay_impl: ReplayKernel) -> None:
    h = _history(replay_impl, ("task", "S.a", "", COMPLETED, 3))
    step: tuple[Any, ...] = ("c", 0)
    for _ in range(50_000):
        step = ("all", (step,))
    with pytest.raises(RecursionError):
        h.evaluate(step, 5)
    with pytest.raises(RecursionError):
        replay_impl.step_signature(step)


# --- errors --------------------------------------------------------------------------------


def test_unknown_step_node(replay_impl: ReplayKernel) -> None:
    h = _history(replay_impl, ("task", "S.a", "", COMPLETED, 3))
    with pytest.raises(ValueError, match=r"^unknown step node 'x'$"):
        h.evaluate(("x", 0), 5)
    with pytest.raises(ValueError, match=r"^unknown step node 'x'$"):
        h.evaluate(("all", (("c", 0), ("x", 0))), 5)
    with pytest.raises(ValueError, match=r"^unknown step node 3$"):
        h.evaluate((3,), 5)
    with pytest.raises(ValueError, match=r"^unknown step node 'x'$"):
        replay_impl.step_signature(("any", (("c", 0), ("x",))))
    with pytest.raises(ValueError, match=r"^unknown step node None$"):
        replay_impl.step_signature((None,))


def test_malformed_steps(replay_impl: ReplayKernel) -> None:
    h = _history(replay_impl, ("task", "S.a", "", COMPLETED, 3))
    with pytest.raises(IndexError, match="^tuple index out of range$"):
        h.evaluate((), 5)
    with pytest.raises(IndexError, match="^tuple index out of range$"):
        h.evaluate(("c",), 5)
    with pytest.raises(IndexError, match="^list index out of range$"):
        h.evaluate(("c", 1), 5)
    with pytest.raises(IndexError, match="^list index out of range$"):
        h.evaluate(("r", 1, 0), 5)
    with pytest.raises(TypeError):
        h.evaluate(("all", 3), 5)


# --- step_signature ------------------------------------------------------------------------


def test_step_signature(replay_impl: ReplayKernel) -> None:
    sig = replay_impl.step_signature
    assert sig(("c", 12)) == "c12"
    assert sig(("r", 3, 0)) == "r3.0"
    assert sig(("all", ())) == "all()"
    assert sig(("any", (("c", 1), ("all", (("r", 2, 1), ("c", 4)))))) == "any(c1,all(r2.1,c4))"


# --- the selector ----------------------------------------------------------------------------


def test_selector_exports_the_twin_names() -> None:
    from infinitic._core import replay

    twin = load("replay", "py")
    for name in twin.__all__:
        assert hasattr(replay, name), name
    if replay.IMPLEMENTATION == "py":
        assert replay.History is twin.History


# --- parity between the compiled module and its twin ---------------------------------------

statuses = st.integers(min_value=0, max_value=5)
indexes = st.integers(min_value=-1, max_value=12)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    kinds = st.sampled_from(["task", "timer", "workflow", "receive"])
    commands = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        status = draw(statuses)
        at = -1 if status == ONGOING and draw(st.booleans()) else draw(indexes)
        signals = sorted(draw(st.lists(indexes, max_size=4)))
        commands.append(
            (draw(kinds), draw(st.sampled_from(["A.x", "A.y"])), draw(st.sampled_from("ab")))
            + (status, at, signals or None)
        )
    return commands


def steps(size: int) -> st.SearchStrategy[tuple[Any, ...]]:
    index = st.integers(min_value=-size, max_value=size - 1)
    leaves = st.one_of(
        st.tuples(st.just("c"), index),
        st.tuples(st.just("r"), index, st.integers(min_value=-1, max_value=4)),
    )
    return st.recursive(
        leaves,
        lambda children: st.tuples(
            st.sampled_from(["all", "any"]), st.lists(children, max_size=4).map(tuple)
        ),
        max_leaves=12,
    )


def _outcome(call: Any, *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", call(*args))
    except Exception as exc:  # noqa: BLE001 - compare any exception, type and message
        return ("error", (type(exc), str(exc)))


@pytest.mark.c_extension
class TestParity:
    @pytest.fixture
    def modules(self) -> tuple[ReplayKernel, ReplayKernel]:
        return load("replay", "py"), load("replay", "c")

    def test_same_public_names(self, modules: tuple[ReplayKernel, ReplayKernel]) -> None:
        py, c = modules
        assert py.__all__ == c.__all__
        for name in py.__all__:
            assert getattr(c, name) == getattr(py, name) or name in ("History", "step_signature")
        assert c.Step == py.Step
        for owner, name in [
            ("", "step_signature"),
            ("", "History"),
            ("History", "add"),
            ("History", "mismatch"),
            ("History", "evaluate"),
        ]:
            py_obj = getattr(py.History, name) if owner else getattr(py, name)
            c_obj = getattr(c.History, name) if owner else getattr(c, name)
            # Cython's embedsignature prepends the signature to the shared docstring.
            py_doc = inspect.cleandoc(py_obj.__doc__)
            assert inspect.cleandoc(c_obj.__doc__).endswith(py_doc), name

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test_random_histories_and_steps(self, data: st.DataObject) -> None:
        py, c = load("replay", "py"), load("replay", "c")
        commands = data.draw(histories())
        hp, hc = _history(py, *commands), _history(c, *commands)
        assert [getattr(hc, n) for n in ("kinds", "statuses", "completed_at", "signal_at")] == [
            getattr(hp, n) for n in ("kinds", "statuses", "completed_at", "signal_at")
        ]
        tree = steps(len(commands) + 1)  # one past the end: IndexError on both sides
        for _ in range(5):
            step = data.draw(tree)
            as_of = data.draw(st.integers(min_value=-2, max_value=14))
            assert _outcome(hc.evaluate, step, as_of) == _outcome(hp.evaluate, step, as_of), (
                commands,
                step,
                as_of,
            )
            assert _outcome(c.step_signature, step) == _outcome(py.step_signature, step)
        for _ in range(5):
            args = (
                data.draw(st.integers(min_value=-len(commands) - 1, max_value=len(commands))),
                data.draw(st.sampled_from(["task", "timer", "workflow", "receive"])),
                data.draw(st.sampled_from(["A.x", "A.y"])),
                data.draw(st.sampled_from("ab")),
                data.draw(st.integers(min_value=0, max_value=3)),
            )
            assert _outcome(hc.mismatch, *args) == _outcome(hp.mismatch, *args)

    @settings(max_examples=100, deadline=None)
    @given(
        at=st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70),
            st.floats(allow_nan=True),
            st.booleans(),
        ),
        as_of=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats()),
        status=st.one_of(statuses, st.booleans(), st.sampled_from([0.0, 3.0, 5.0])),
        signal=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats()),
    )
    def test_odd_numbers_take_the_generic_path(
        self, at: Any, as_of: Any, status: Any, signal: Any
    ) -> None:
        """Floats, NaN, bools and ints beyond 64 bits compare exactly as in Python."""
        py, c = load("replay", "py"), load("replay", "c")
        command = ("receive", "ch", "", status, at, [signal])
        hp, hc = _history(py, command, command), _history(c, command, command)
        for step in [
            ("c", 0),
            ("r", 0, 0),
            ("r", 1, 1),
            ("all", (("c", 0), ("r", 1, 0))),
            ("any", (("c", 0), ("r", 1, 0))),
            ("any", (("r", 1, 1), ("c", 0), ("c", 1))),
        ]:
            a, b = _outcome(hc.evaluate, step, as_of), _outcome(hp.evaluate, step, as_of)
            assert repr(a) == repr(b), step  # repr: NaN != NaN, and keeps 1 vs 1.0 vs True

    def test_subclass_override_is_used_for_children(
        self, modules: tuple[ReplayKernel, ReplayKernel]
    ) -> None:
        results = []
        for impl in modules:

            class Traced(impl.History):  # type: ignore[misc, name-defined]
                def evaluate(self, step: Any, as_of: Any) -> Any:
                    self.seen.append(step)
                    return super().evaluate(step, as_of)

            h = Traced()
            h.seen = []
            h.add("task", "S.a", "", COMPLETED, 3)
            step = ("all", (("c", 0), ("any", (("c", 0),))))
            results.append((h.evaluate(step, 5), h.seen))
        assert results[0] == results[1]
