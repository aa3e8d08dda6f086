"""The workflows whose recorded histories are kept in tests/compat/histories/.

FROZEN: the histories were recorded from this code and must replay on it forever; a change here
would hide exactly what those fixtures are for (a release that can no longer replay a history an
older release wrote). Add new workflows or methods for new features; never edit these ones.
Between them they issue every command kind: task (also failed, and dispatched in parallel),
child workflow, timer, receive, signal, inline (and now/random/uuid4, recorded as inline), and
a second method run on a running instance.
"""

from __future__ import annotations

from datetime import timedelta

from infinitic import Channel, TaskFailedError, Workflow, all_of, any_of, name, retry


@name("GoldenService")
class GoldenService:
    def add(self, a: int, b: int) -> int: ...
    def fail(self, why: str) -> int: ...


class GoldenServiceImpl(GoldenService):
    def add(self, a: int, b: int) -> int:
        return a + b

    @retry(maximum_retries=0)
    def fail(self, why: str) -> int:
        raise ValueError(why)


@name("GoldenChild")
class GoldenChild(Workflow):
    def double(self, n: int) -> int: ...


class GoldenChildImpl(GoldenChild):
    def double(self, n: int) -> int:
        return self.new_service(GoldenService).add(n, n)


@name("GoldenFlow")
class GoldenFlow(Workflow):
    answers = Channel[str]()

    def run(self, n: int) -> dict[str, object]: ...
    def note(self, text: str) -> int: ...


class GoldenFlowImpl(GoldenFlow):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def run(self, n: int) -> dict[str, object]:
        math = self.new_service(GoldenService)
        total = math.add(n, 1)
        sums = all_of(*(self.dispatch(math.add, i, i) for i in range(3))).result()
        doubled = self.new_workflow(GoldenChild).double(total)
        try:
            math.fail("expected")
            caught = ""
        except TaskFailedError as exc:
            caught = exc.last_error.message if exc.last_error else "?"
        picked = self.inline(lambda: 7)
        late = self.now().year > 2000 and 0 <= self.random() < 1 and self.uuid4().version == 4
        self.timer(timedelta(hours=1)).result()
        answer = any_of(self.answers.receive(), self.timer(timedelta(days=1))).result()
        return {
            "total": total,
            "sums": sums,
            "doubled": doubled,
            "caught": caught,
            "picked": picked,
            "late": late,
            "answer": answer if isinstance(answer, str) else "timed out",
            "notes": list(self.notes),
        }

    def note(self, text: str) -> int:
        self.notes.append(text)
        return len(self.notes)


@name("GoldenSender")
class GoldenSender(Workflow):
    def send(self, target_id: str, text: str) -> str: ...


class GoldenSenderImpl(GoldenSender):
    def send(self, target_id: str, text: str) -> str:
        self.get_workflow_by_id(GoldenFlow, target_id).answers.send(text)
        return "sent"


SERVICES = [GoldenServiceImpl]
WORKFLOWS = {
    "GoldenFlow": GoldenFlowImpl,
    "GoldenChild": GoldenChildImpl,
    "GoldenSender": GoldenSenderImpl,
}
