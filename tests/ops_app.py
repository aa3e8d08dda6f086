"""A service that fails until it is fixed (a flag file is removed), and a workflow calling it:
what the CLI test drives in a worker of another process."""

from __future__ import annotations

import os
from pathlib import Path

from infinitic import Workflow, name


@name("Flaky")
class FlakyService:
    def work(self, x: int) -> int: ...


class FlakyServiceImpl(FlakyService):
    def work(self, x: int) -> int:
        if Path(os.environ["OPS_BROKEN_FLAG"]).exists():
            raise RuntimeError("not fixed yet")
        return 2 * x


@name("OpsFlow")
class OpsWorkflow(Workflow):
    def run(self, x: int) -> int: ...


class OpsWorkflowImpl(OpsWorkflow):
    def run(self, x: int) -> int:
        return self.new_service(FlakyService).work(x)


@name("OpsMeta")
class OpsMeta(Workflow):
    def run(self) -> dict[str, object]: ...


class OpsMetaImpl(OpsMeta):
    def run(self) -> dict[str, object]:
        from tests.sample_services import EchoService

        return self.new_service(EchoService, meta={"k": b"v"}).context()
