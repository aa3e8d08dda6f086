"""End to end through a real Pulsar broker, with 1 or more worker processes.

    python benchmarks/e2e_pulsar.py [--workers 1 2] [--tasks 2000] [--workflows 500] \
        [--fanout 10000] [--storage redis|sqlite] [--raw 20000]

Uses INFINITIC_PULSAR_URL / INFINITIC_PULSAR_ADMIN_URL / INFINITIC_PULSAR_PID, or starts a
broker with scripts/start-pulsar (and stops it). Worker processes run `infinitic worker` on a
shared state (a Redis server started here, or a SQLite file); the client runs here. Prints one
JSON line per measurement, with the CPU seconds the broker and the workers used during it (from
/proc), and the messages the broker took in (its topics' stats), so broker CPU per workflow and
per message.

The raw-client lines (first, same run): publish --raw messages through the Python client
(batched, keyed, as our producers are) and consume them, no engine, once with a listener and
once in bursts from a thread as our transport does: what the broker and client do without us,
the ceiling our figures are compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.e2e import worker_config  # noqa: E402
from benchmarks.kernels import require_compiled  # noqa: E402
from benchmarks.workloads import BenchFlow, BenchTask  # noqa: E402
from infinitic import InfiniticClient  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_broker() -> tuple[str, str, int, str]:
    data_dir = tempfile.mkdtemp(prefix="infinitic-bench-pulsar-")
    out = subprocess.run(
        [str(ROOT / "scripts/start-pulsar"), "--free-ports", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        check=True,
    )
    values = dict(line.split("=", 1) for line in out.stdout.split())
    return (
        values["INFINITIC_PULSAR_URL"],
        values["INFINITIC_PULSAR_ADMIN_URL"],
        int(values["INFINITIC_PULSAR_PID"]),
        data_dir,
    )


def messages_in(admin: str, tenant: str, namespace: str) -> int:
    """Messages the broker took in on the namespace's topics so far (0 if unreadable)."""
    try:
        with urllib.request.urlopen(
            f"{admin}/admin/v2/namespaces/{tenant}/{namespace}/topics"
        ) as r:
            topics = json.load(r)
        total = 0
        for topic in topics:
            path = topic.replace("persistent://", "persistent/")
            with urllib.request.urlopen(f"{admin}/admin/v2/{path}/stats") as r:
                total += int(json.load(r).get("msgInCounter", 0))
        return total
    except OSError:
        return 0


def raw_client(url: str, admin: str, broker_pid: int | None, count: int, receive: str) -> None:
    """Publish and consume `count` keyed messages through the client alone: the ceiling.
    `receive`: "listener" (the client calls back once per message) or "bursts" (a thread takes
    what the client has queued, as our transport does: transport/pulsar/receiver.py)."""
    import pulsar

    from infinitic.transport.pulsar.admin import ensure_namespace
    from infinitic.transport.pulsar.receiver import Receiver
    from infinitic.transport.pulsar.settings import PulsarSettings

    settings = PulsarSettings(url, admin, tenant="bench", namespace=f"raw{uuid.uuid4().hex[:8]}")
    ensure_namespace(settings)
    topic = settings.topic("raw")
    client = pulsar.Client(url, logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
    receiver = None
    try:
        received = threading.Semaphore(0)

        def listener(consumer: Any, message: Any) -> None:
            consumer.acknowledge(message)
            received.release()

        def burst(messages: list[Any]) -> None:
            for message in messages:
                consumer.acknowledge(message)
                received.release()

        consumer = client.subscribe(
            topic,
            "raw",
            consumer_type=pulsar.ConsumerType.KeyShared,
            **({"message_listener": listener} if receive == "listener" else {}),
        )
        if receive == "bursts":
            receiver = Receiver(consumer, burst, "raw-receive")
            receiver.start()
        producer = client.create_producer(
            topic,
            batching_enabled=True,
            batching_type=pulsar.BatchingType.KeyBased,
            batching_max_publish_delay_ms=1,
            max_pending_messages=10_000,
            block_if_queue_full=True,
        )
        payload = b"x" * 200
        cpu_b = cpu_seconds(broker_pid) if broker_pid else 0.0
        cpu_c = time.process_time()
        t0 = time.perf_counter()
        for i in range(count):
            producer.send_async(payload, None, partition_key=f"k{i % 1000}")
        producer.flush()
        for _ in range(count):
            received.acquire()
        elapsed = time.perf_counter() - t0
        broker = cpu_seconds(broker_pid) - cpu_b if broker_pid else None
        print(
            json.dumps(
                {
                    "benchmark": "raw client: keyed publish + Key_Shared consume, no engine",
                    "receive": receive,
                    "count": count,
                    "seconds": round(elapsed, 3),
                    "per_second": round(count / elapsed),
                    "broker_cpu_s": round(broker, 2) if broker is not None else None,
                    "broker_cpu_ms_per_message": round(broker / count * 1000, 4)
                    if broker is not None
                    else None,
                    "client_cpu_s": round(time.process_time() - cpu_c, 2),
                }
            ),
            flush=True,
        )
        producer.close()
        if receiver is not None:
            receiver.stop()
        consumer.close()
    finally:
        client.close()
        if receiver is not None:
            receiver.join(5.0)


def run(
    workers: int,
    url: str,
    admin: str,
    broker_pid: int | None,
    args: argparse.Namespace,
    storage: dict[str, Any],
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="infinitic-bench-"))
    namespace = f"n{uuid.uuid4().hex[:8]}"
    transport = {
        "pulsar": {
            "brokerServiceUrl": url,
            "webServiceUrl": admin,
            "tenant": "bench",
            "namespace": namespace,
        }
    }
    if "sqlite" in storage:
        storage = {"sqlite": {"path": str(folder / "state.db")}}
    config = worker_config(transport, storage)
    config["transport"]["pulsar"]["namespace"] = namespace  # worker_config draws its own
    (folder / "worker.yml").write_text(yaml.safe_dump(config))
    procs = []
    for _ in range(workers):
        proc = subprocess.Popen(
            [sys.executable, "-m", "infinitic", "worker", "-c", str(folder / "worker.yml")],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None and "started" in proc.stderr.readline()
        procs.append(proc)
    client = InfiniticClient.from_config({"name": "bench-client", "transport": config["transport"]})
    try:
        common = {
            "workers": workers,
            "broker": "pulsar 4.0.7 standalone",
            "storage": next(iter(storage)),
        }
        task = client.new_service(BenchTask)
        flow = client.new_workflow(BenchFlow)
        for h in [client.dispatch(task.step, i) for i in range(200)]:
            h.result(timeout=120)
        for h in [client.dispatch(flow.sequential, i) for i in range(20)]:
            h.result(timeout=120)

        def measure(name: str, count: int, dispatch: object, units: int = 1) -> None:
            """`count` dispatches of `units` units each (a fan-out: 1 of N tasks); latency of
            one dispatch at a time first, but for a fan-out."""
            lat = []
            for i in range(50 if units == 1 else 0):
                t0 = time.perf_counter()
                dispatch(i).result(timeout=120)  # type: ignore[operator]
                lat.append(time.perf_counter() - t0)
            lat.sort()
            cpu_b = cpu_seconds(broker_pid) if broker_pid else 0.0
            cpu_w = sum(cpu_seconds(p.pid) for p in procs)
            cpu_c = time.process_time()
            messages = messages_in(admin, "bench", namespace)
            t0 = time.perf_counter()
            handles = [dispatch(i) for i in range(count)]  # type: ignore[operator]
            for h in handles:
                h.result(timeout=600)
            elapsed = time.perf_counter() - t0
            broker = cpu_seconds(broker_pid) - cpu_b if broker_pid else None
            messages = messages_in(admin, "bench", namespace) - messages
            count *= units
            print(
                json.dumps(
                    {
                        "benchmark": name,
                        **common,
                        "count": count,
                        "seconds": round(elapsed, 3),
                        "per_second": round(count / elapsed),
                        "unloaded_p50_ms": round(statistics.median(lat) * 1000, 2) if lat else None,
                        "unloaded_p99_ms": round(lat[-1] * 1000, 2) if lat else None,
                        "broker_cpu_s": round(broker, 2) if broker is not None else None,
                        "broker_cpu_ms_per_unit": round(broker / count * 1000, 3)
                        if broker is not None
                        else None,
                        "messages": messages,
                        "broker_cpu_ms_per_message": round(broker / messages * 1000, 4)
                        if broker is not None and messages
                        else None,
                        "workers_cpu_s": round(sum(cpu_seconds(p.pid) for p in procs) - cpu_w, 2),
                        "client_cpu_s": round(time.process_time() - cpu_c, 2),
                    }
                ),
                flush=True,
            )

        measure("no-op tasks", args.tasks, lambda i: client.dispatch(task.step, i))
        measure(
            "workflows of 3 sequential tasks",
            args.workflows,
            lambda i: client.dispatch(flow.sequential, i),
        )
        if args.fanout:
            measure(
                "one workflow fanning out tasks",
                1,
                lambda i: client.dispatch(flow.fanout, args.fanout),
                units=args.fanout,
            )
    finally:
        client.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
            assert proc.stderr is not None
            proc.stderr.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--storage", choices=["redis", "sqlite"], default="redis")
    parser.add_argument("--fanout", type=int, default=0, help="tasks of one fan-out (0: none)")
    parser.add_argument("--raw", type=int, default=20_000, help="raw-client messages (0: none)")
    args = parser.parse_args()
    require_compiled("e2e_pulsar.py")
    url = os.environ.get("INFINITIC_PULSAR_URL")
    admin = os.environ.get("INFINITIC_PULSAR_ADMIN_URL", "http://127.0.0.1:8080")
    broker_pid = (
        int(os.environ["INFINITIC_PULSAR_PID"]) if os.environ.get("INFINITIC_PULSAR_PID") else None
    )
    data_dir = None
    if not url:
        url, admin, broker_pid, data_dir = start_broker()
    stop_redis = None
    try:
        storage: dict[str, Any] = {"sqlite": {}}
        if args.storage == "redis":
            from tests.storage.redis_server import RedisServer

            server = RedisServer.launch()
            stop_redis = server.stop
            options = {k: v for k, v in server.storage_options().items() if v is not None}
            storage = {"redis": options}
        if args.raw:
            for receive in ("listener", "bursts"):
                raw_client(url, admin, broker_pid, args.raw, receive)
        for workers in args.workers:
            run(workers, url, admin, broker_pid, args, storage)
    finally:
        if stop_redis is not None:
            stop_redis()
        if data_dir:
            subprocess.run(
                [str(ROOT / "scripts/stop-pulsar"), "--data-dir", data_dir],
                check=False,
                capture_output=True,
            )


if __name__ == "__main__":
    main()
