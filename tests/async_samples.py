"""An async service calling through the worker's client, and workflows a worker must refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from infinitic import Workflow, name, retry, task
from tests.sample_workflows import AsyncBasicWorkflow, AsyncMathService, MathService


@name("Caller")
class CallerService:
    async def awaits_stub(self, n: int) -> int: ...
    async def awaits_dispatch(self, n: int) -> int: ...
    async def awaits_workflow(self, n: int) -> int: ...
    async def blocks(self, n: int) -> int: ...
    async def blocks_on_ids(self, tag: str) -> list[str]: ...
    async def awaits_ids(self, tag: str) -> list[str]: ...
    async def awaits_wait(self, workflow_id: str) -> int: ...


class CallerServiceImpl(CallerService):
    async def awaits_stub(self, n: int) -> int:
        # an interface method declared `async def`: the call is awaited, the loop goes on
        return await task.client.new_service(AsyncMathService).add(n, 1)

    async def awaits_dispatch(self, n: int) -> int:
        client = task.client
        return await client.dispatch(client.new_service(MathService).add, n, 2)  # type: ignore[no-any-return]

    async def awaits_workflow(self, n: int) -> int:
        return await task.client.new_workflow(AsyncBasicWorkflow).sequential(n)  # type: ignore[no-any-return]

    async def blocks(self, n: int) -> int:
        # waits on the very loop that must deliver the result: refused, not a deadlock
        return task.client.new_service(MathService).add(n, 3)  # type: ignore[no-any-return]

    async def blocks_on_ids(self, tag: str) -> list[str]:
        return task.client.get_ids_by_tag(AsyncBasicWorkflow, tag)  # type: ignore[no-any-return]

    async def awaits_ids(self, tag: str) -> list[str]:
        return await task.client.get_ids_by_tag_async(AsyncBasicWorkflow, tag)

    async def awaits_wait(self, workflow_id: str) -> int:
        client = task.client
        stub = client.get_workflow_by_id(AsyncBasicWorkflow, workflow_id)
        return await client.wait_async(stub, timeout=30)  # type: ignore[no-any-return]


@name("Generating")
class GeneratingWorkflow(Workflow):
    def numbers(self) -> Iterator[int]: ...
    def streamed(self) -> AsyncIterator[int]: ...


class GeneratingWorkflowImpl(GeneratingWorkflow):
    def numbers(self) -> Iterator[int]:
        yield 1

    async def streamed(self) -> AsyncIterator[int]:
        yield 1


class AsyncRetryPolicy:
    async def get_seconds_before_retry(self, retry: int, exception: BaseException) -> float | None:
        return None


@name("BadHooks")
class BadHooksService:
    def numbers(self) -> Iterator[int]: ...
    def work(self) -> int: ...


class BadHooksServiceImpl(BadHooksService):
    def numbers(self) -> Iterator[int]:
        yield 1

    @retry(AsyncRetryPolicy)  # type: ignore[arg-type]
    def work(self) -> int:
        return 1

    async def get_timeout_in_seconds(self) -> float | None:
        return 1.0


class AsyncRecorder:
    """An event listener written `async def`: the worker calls on_events synchronously."""

    async def on_events(self, events: list[object]) -> None:
        return None
