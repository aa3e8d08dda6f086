"""Malformed messages on every topic go to the dead-letter place with a reason, and the worker
keeps consuming: after the garbage, a normal task or workflow that uses that same topic completes.

On the in-memory transport (the dead letters are `transport.dead_letters`), the SQLite
transport (its `infinitic_dead_letters` table) and on a real Pulsar broker (`{topic}-dlq`, the
reason in the `reason` property). One worker per transport for the
module: each test sends its own, unique garbage and looks for exactly that.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infinitic import InfiniticClient, InfiniticWorker
from infinitic.common import messages as m
from infinitic.common import workflow_messages as w
from infinitic.transport.base import Topics
from infinitic.transport.sqlite import SqliteTransport
from tests import sample_services as s
from tests import sample_workflows as sw
from tests.helpers import config, started

WAIT = 60.0


@dataclass
class Setup:
    worker: InfiniticWorker
    client: InfiniticClient
    transport_name: str
    read_dead_letters: Callable[[str, set[bytes]], dict[bytes, str]]


def _memory_dead_letters(worker: InfiniticWorker) -> Callable[[str, set[bytes]], dict[bytes, str]]:
    def read(topic: str, payloads: set[bytes]) -> dict[bytes, str]:
        found: dict[bytes, str] = {}
        deadline = time.monotonic() + WAIT
        for _ in range(100_000):
            if time.monotonic() > deadline:
                break
            found = {
                d.payload: d.reason
                for d in worker.transport.dead_letters  # type: ignore[attr-defined]
                if d.topic == topic and d.payload in payloads
            }
            if len(found) == len(payloads):
                break
            time.sleep(0.01)  # poll with a deadline: the handler runs on the worker's loop
        return found

    return read


def _sqlite_dead_letters(worker: InfiniticWorker) -> Callable[[str, set[bytes]], dict[bytes, str]]:
    """The `infinitic_dead_letters` table of the transport's file."""
    transport = worker.transport
    assert isinstance(transport, SqliteTransport)

    def read(topic: str, payloads: set[bytes]) -> dict[bytes, str]:
        found: dict[bytes, str] = {}
        deadline = time.monotonic() + WAIT
        for _ in range(100_000):
            found = {
                d.payload: d.reason
                for d in transport.read_dead_letters(topic)
                if d.payload in payloads
            }
            if len(found) == len(payloads) or time.monotonic() > deadline:
                break
            time.sleep(0.02)  # poll with a deadline: written by the worker's poller
        return found

    return read


def _pulsar_dead_letters(settings: dict[str, Any]) -> Iterator[Any]:
    import pulsar

    raw = pulsar.Client(settings["brokerServiceUrl"])

    def read(topic: str, payloads: set[bytes]) -> dict[bytes, str]:
        name = "persistent://{tenant}/{namespace}/".format(**settings) + f"{topic}-dlq"
        reader = raw.create_reader(name, pulsar.MessageId.earliest)
        found: dict[bytes, str] = {}
        try:
            deadline = time.monotonic() + WAIT
            for _ in range(10_000):
                left = deadline - time.monotonic()
                if left <= 0 or len(found) == len(payloads):
                    break
                try:
                    message = reader.read_next(timeout_millis=int(left * 1000))
                except pulsar.Timeout:
                    break
                if message.data() in payloads:
                    found[message.data()] = message.properties().get("reason", "")
        finally:
            reader.close()
        return found

    try:
        yield read
    finally:
        raw.close()


@pytest.fixture(
    scope="module",
    # slow on Pulsar: the transport's behaviour does not depend on the codec, so CI's second
    # pass (on the twins, -m "not slow") need not start a broker again for it
    params=[
        "inMemory",
        "sqlite",
        pytest.param("pulsar", marks=[pytest.mark.pulsar, pytest.mark.slow]),
    ],
)
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    readers: Iterator[Any] | None = None
    if request.param == "pulsar":
        url, admin = request.getfixturevalue("pulsar_urls")
        settings = {
            "brokerServiceUrl": url,
            "webServiceUrl": admin,
            "tenant": "infinitic-tests",
            "namespace": f"dl-{uuid.uuid4().hex[:10]}",
            "consumer": {"negativeAckRedeliveryDelaySeconds": 0.2, "maxRedeliverCount": 2},
        }
        transport: Any = {"pulsar": settings}
        readers = _pulsar_dead_letters(settings)
    elif request.param == "sqlite":
        transport = {"sqlite": {"path": str(tmp_path_factory.mktemp("dl") / "bus.db")}}
    else:
        transport = "inMemory"
    try:
        with started({**config(transport=transport), "name": "hostile"}) as worker:
            if readers is not None:
                read = next(readers)
            elif request.param == "sqlite":
                read = _sqlite_dead_letters(worker)
            else:
                read = _memory_dead_letters(worker)
            yield Setup(worker, worker.client, request.param, read)
    finally:
        if readers is not None:
            readers.close()


def _send(setup: Setup, topic: str, payload: bytes, key: str | None = None) -> None:
    run = setup.client._runtime.run
    run(setup.worker.transport.send(topic, payload, key=key))


def _garbage(topic: str, valid: object) -> dict[str, tuple[bytes, str]]:
    """Three malformed messages, unique to this test, and what their reason must say."""
    marker = uuid.uuid4().hex
    envelope = m.encode(valid)
    state = m.encode(w.WorkflowState(f"wf-{marker}", "Basic", status="running"))
    return {
        "random bytes": (f"garbage {marker} \xff".encode("latin-1"), "undecodable envelope"),
        "truncated": (envelope[:-3], "undecodable envelope: envelope truncated"),
        "wrong type": (state, "unexpected WorkflowState"),
    }


def _echo(setup: Setup) -> None:
    assert setup.client.new_service(s.EchoService).echo("after garbage") == "after garbage"


def _task_tag(setup: Setup) -> None:
    tag = f"tag-{uuid.uuid4().hex}"
    stub = setup.client.new_service(s.EchoService, tags={tag})
    assert stub.echo("tagged") == "tagged"
    assert setup.client.get_task_ids_by_tag(s.EchoService, tag, timeout=WAIT) == []


def _workflow(setup: Setup) -> None:
    assert setup.client.new_workflow(sw.BasicWorkflow).sequential(3) == 3


def _workflow_tag(setup: Setup) -> None:
    tag = f"tag-{uuid.uuid4().hex}"
    handle = setup.client.dispatch(
        setup.client.new_workflow(sw.BasicWorkflow, tags={tag}).waiting_for_ping, 1
    )
    deadline = time.monotonic() + WAIT
    ids: list[str] = []
    for _ in range(1000):  # the tag is added once the engine handled the start: poll
        ids = setup.client.get_ids_by_tag(sw.BasicWorkflow, tag, timeout=WAIT)
        if handle.id in ids or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert ids == [handle.id]
    setup.client.cancel(setup.client.get_workflow_by_id(sw.BasicWorkflow, handle.id))


def _valid_for(topic: str, client_topic: str) -> object:
    """A message of the kind the topic carries (its truncation is the 'truncated' garbage)."""
    if topic.startswith("task-executor:"):
        return m.ExecuteTask("m", "t", "Echo", "echo", b'["x"]')
    if topic.startswith("task-tag:"):
        return w.ServiceTagCommand("m", "Echo", "t", "ids", reply_to=client_topic)
    if topic.startswith("workflow-tag:"):
        return w.TagCommand("m", "Basic", "t", "ids", reply_to=client_topic)
    if topic.startswith("response:"):
        return m.TaskCompleted("m", "t", "Echo", "echo", b'"x"')
    return w.DispatchWorkflow("m", "wf", "Basic", "sequential", b"[1]", reply_to=client_topic)


TOPICS: list[tuple[str, Callable[[str], str], Callable[[Setup], None]]] = [
    ("task-executor", lambda _: Topics.task_executor("Echo"), _echo),
    ("task-tag", lambda _: Topics.service_tag("Echo"), _task_tag),
    ("workflow-engine", lambda _: Topics.workflow_engine("Basic"), _workflow),
    ("workflow-task-executor", lambda _: Topics.workflow_task_executor("Basic"), _workflow),
    ("workflow-tag", lambda _: Topics.workflow_tag("Basic"), _workflow_tag),
    ("client-response", lambda client_topic: client_topic, _echo),
]


@pytest.mark.parametrize(
    "topic_of, normal_use", [t[1:] for t in TOPICS], ids=[t[0] for t in TOPICS]
)
def test_malformed_messages_are_dead_lettered_and_the_topic_keeps_flowing(
    setup: Setup, topic_of: Callable[[str], str], normal_use: Callable[[Setup], None]
) -> None:
    client_topic = Topics.client_response(setup.client.name)
    topic = topic_of(client_topic)
    garbage = _garbage(topic, _valid_for(topic, client_topic))
    for payload, _ in garbage.values():
        _send(setup, topic, payload, key="wf-garbage")
    normal_use(setup)  # the consumer of that topic survived all three
    found = setup.read_dead_letters(topic, {payload for payload, _ in garbage.values()})
    for what, (payload, reason) in garbage.items():
        assert payload in found, f"{what} on {topic} was not dead-lettered ({setup.transport_name})"
        assert reason in found[payload], f"{what} on {topic}: reason {found[payload]!r}"


# ------------------------------------------------- well-formed envelopes, malformed content

CONTENT: list[tuple[str, str, Callable[[str], object], str, Callable[[Setup], None]]] = [
    (
        "workflow-without-id",
        Topics.workflow_engine("Basic"),
        lambda reply_to: w.DispatchWorkflow("m", "", "Basic", "sequential", b"[1]"),
        "unexpected DispatchWorkflow on a workflow-engine topic",
        _workflow,
    ),
    (
        "unknown-tag-action",
        Topics.workflow_tag("Basic"),
        lambda reply_to: w.TagCommand("m", "Basic", "t", "explode", reply_to=reply_to),
        "tag command 'explode' is incomplete",
        _workflow_tag,
    ),
    (
        "unknown-task-tag-action",
        Topics.service_tag("Echo"),
        lambda reply_to: w.ServiceTagCommand("m", "Echo", "t", "explode", reply_to=reply_to),
        "service tag command 'explode' is incomplete",
        _task_tag,
    ),
    (
        "task-message-on-a-response-topic",
        "",
        lambda reply_to: m.ExecuteTask("m", "t", "Echo", "echo", b'["x"]'),
        "unexpected ExecuteTask on a client response topic",
        _echo,
    ),
]


@pytest.mark.parametrize(
    "topic, build, reason, normal_use", [c[1:] for c in CONTENT], ids=[c[0] for c in CONTENT]
)
def test_well_formed_but_meaningless_messages_are_dead_lettered(
    setup: Setup,
    topic: str,
    build: Callable[[str], object],
    reason: str,
    normal_use: Callable[[Setup], None],
) -> None:
    client_topic = Topics.client_response(setup.client.name)
    topic = topic or client_topic
    message = build(client_topic)
    message.message_id = f"m-{uuid.uuid4().hex}"  # type: ignore[attr-defined]
    payload = m.encode(message)
    _send(setup, topic, payload, key="t")
    normal_use(setup)
    found = setup.read_dead_letters(topic, {payload})
    assert payload in found, f"not dead-lettered on {topic} ({setup.transport_name})"
    assert reason in found[payload]


def test_an_oversized_envelope_is_dead_lettered_unread(setup: Setup) -> None:
    if setup.transport_name == "pulsar":
        pytest.skip("over Pulsar's own maxMessageSize (5 MB by default): the producer refuses it")
    topic = Topics.task_executor("Echo")
    huge = m.encode(m.ExecuteTask(f"m-{uuid.uuid4().hex}", "t", "Echo", "echo", bytes(65 << 20)))
    _send(setup, topic, huge)
    _echo(setup)
    found = setup.read_dead_letters(topic, {huge})
    assert f"envelope too large: {len(huge)} bytes (limit 67108864)" in found[huge]


def test_a_corrupt_stored_state_dead_letters_its_messages_only(setup: Setup) -> None:
    if setup.transport_name != "inMemory":
        pytest.skip("the storage is the same on every transport: tested once")
    from infinitic.engines.workflow_engine.engine import state_key

    workflow_id = f"wf-{uuid.uuid4().hex}"
    storage: Any = setup.worker._storage
    corrupt = b"IN\x01\x17\xff\xff\xff\xff\x0f"  # a WorkflowState claiming a 4 GiB id
    setup.client._runtime.run(storage.put(state_key("Basic", workflow_id), corrupt, 0))
    signal = w.SendSignal(f"m-{uuid.uuid4().hex}", workflow_id, "Basic", "ping", b'"x"')
    payload = m.encode(signal)
    topic = Topics.workflow_engine("Basic")
    _send(setup, topic, payload, key=workflow_id)
    _workflow(setup)  # other workflows go on
    found = setup.read_dead_letters(topic, {payload})
    key = state_key("Basic", workflow_id)
    assert found[payload].startswith(f"the state under {key} cannot be decoded: envelope truncated")
