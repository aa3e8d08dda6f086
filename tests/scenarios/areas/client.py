"""A workflow for what the client does on tag stubs (next to the catalog's ClientTests)."""

from __future__ import annotations

from infinitic import Channel, Workflow


class TaggedWorkflow(Workflow):
    poked = Channel[str]()

    def wait(self) -> str: ...
    def poke(self, value: str) -> str: ...


class TaggedWorkflowImpl(TaggedWorkflow):
    def wait(self) -> str:
        return self.poked.receive().result()

    def poke(self, value: str) -> str:
        """Run on an existing instance: signals its own main method."""
        self.poked.send(value)
        return value


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


WORKFLOWS = [{"name": _name(TaggedWorkflow), "class": _name(TaggedWorkflowImpl), "concurrency": 2}]
