#!/usr/bin/env python3
"""Smoke test for a running Pulsar broker (see docs/pulsar-broker.md).

Checks, each on fresh uniquely named topics in public/default:
  1. admin REST answers (clusters, public/default namespace);
  2. produce + consume with key and properties;
  3. delayed delivery on a Shared subscription: a message sent with
     deliver_after=2s arrives >= 2 s after the send, after an undelayed one;
  4. Key_Shared with two consumers: all messages arrive, each key goes to one
     consumer only, per-key order is kept;
  5. delayed delivery on a Key_Shared subscription.

Uses INFINITIC_PULSAR_URL / INFINITIC_PULSAR_ADMIN_URL (defaults
pulsar://127.0.0.1:6650 and http://127.0.0.1:8080). Exits non-zero on failure.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import uuid
from datetime import timedelta

try:
    import pulsar
except ImportError:  # pragma: no cover
    sys.exit("smoke: the 'pulsar-client' package is not installed (pip install pulsar-client)")

URL = os.environ.get("INFINITIC_PULSAR_URL", "pulsar://127.0.0.1:6650")
ADMIN = os.environ.get("INFINITIC_PULSAR_ADMIN_URL", "http://127.0.0.1:8080").rstrip("/")
NS = "persistent://public/default"
RUN = uuid.uuid4().hex[:8]
failures: list[str] = []


def check(cond: bool, what: str) -> None:
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def admin_get(path: str):
    with urllib.request.urlopen(ADMIN + path, timeout=10) as r:
        return json.loads(r.read().decode())


def drain(consumer, timeout_ms: int):
    out = []
    while True:
        try:
            msg = consumer.receive(timeout_millis=timeout_ms)
        except pulsar.Timeout:
            return out
        out.append(msg)
        consumer.acknowledge(msg)


def test_admin() -> None:
    check("standalone" in admin_get("/admin/v2/clusters"), "admin: cluster 'standalone' listed")
    check(
        "public/default" in admin_get("/admin/v2/namespaces/public"),
        "admin: namespace public/default exists",
    )


def test_produce_consume(client) -> None:
    topic = f"{NS}/smoke-basic-{RUN}"
    consumer = client.subscribe(topic, "s", consumer_type=pulsar.ConsumerType.Exclusive)
    producer = client.create_producer(topic, batching_enabled=False)
    producer.send(b"hello", properties={"a": "1"}, partition_key="k1")
    msg = consumer.receive(timeout_millis=10_000)
    consumer.acknowledge(msg)
    check(
        msg.data() == b"hello" and msg.properties() == {"a": "1"} and msg.partition_key() == "k1",
        "produce/consume: payload, properties and key round-trip",
    )
    producer.close()
    consumer.close()


def test_delayed(client, ctype, name: str) -> None:
    topic = f"{NS}/smoke-delayed-{name}-{RUN}"
    consumer = client.subscribe(topic, "s", consumer_type=ctype)
    producer = client.create_producer(topic, batching_enabled=False)
    t0 = time.monotonic()
    producer.send(b"late", deliver_after=timedelta(seconds=2), partition_key="k")
    producer.send(b"now", partition_key="k")
    got = []
    deadline = time.monotonic() + 15
    while len(got) < 2 and time.monotonic() < deadline:
        try:
            msg = consumer.receive(timeout_millis=500)
        except pulsar.Timeout:
            continue
        got.append((msg.data(), time.monotonic() - t0))
        consumer.acknowledge(msg)
    print(f"     {name}: arrivals {[(d.decode(), round(t, 3)) for d, t in got]}")
    check(
        [d for d, _ in got] == [b"now", b"late"],
        f"delayed ({name}): undelayed message first, delayed one second",
    )
    late = [t for d, t in got if d == b"late"]
    check(
        bool(late) and late[0] >= 2.0,
        f"delayed ({name}): deliver_after=2s arrived >= 2 s after send",
    )
    check(bool(late) and late[0] < 6.0, f"delayed ({name}): deliver_after=2s arrived within 6 s")
    producer.close()
    consumer.close()


def test_key_shared(client) -> None:
    topic = f"{NS}/smoke-keyshared-{RUN}"
    c1 = client.subscribe(
        topic, "ks", consumer_type=pulsar.ConsumerType.KeyShared, consumer_name="c1"
    )
    c2 = client.subscribe(
        topic, "ks", consumer_type=pulsar.ConsumerType.KeyShared, consumer_name="c2"
    )
    producer = client.create_producer(
        topic, batching_enabled=True, batching_type=pulsar.BatchingType.KeyBased
    )
    keys = [f"key-{i}" for i in range(20)]
    n = 400
    for i in range(n):
        producer.send_async(f"{i}".encode(), None, partition_key=keys[i % len(keys)])
    producer.flush()
    seen: dict[str, set[str]] = {}
    order: dict[str, list[int]] = {}
    total = 0
    deadline = time.monotonic() + 20
    while total < n and time.monotonic() < deadline:
        for name, c in (("c1", c1), ("c2", c2)):
            for msg in drain(c, 200):
                total += 1
                k = msg.partition_key()
                seen.setdefault(k, set()).add(name)
                order.setdefault(k, []).append(int(msg.data()))
    per_consumer = {c: sum(1 for s in seen.values() if c in s) for c in ("c1", "c2")}
    print(f"     key_shared: {total} messages, keys per consumer {per_consumer}")
    check(total == n, f"key_shared: all {n} messages received")
    check(
        all(len(s) == 1 for s in seen.values()),
        "key_shared: each key delivered to exactly one consumer",
    )
    check(all(v == sorted(v) for v in order.values()), "key_shared: per-key order kept")
    producer.close()
    c1.close()
    c2.close()


def main() -> int:
    print(f"smoke: broker {URL}, admin {ADMIN}")
    test_admin()
    client = pulsar.Client(
        URL, operation_timeout_seconds=15, logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)
    )
    try:
        test_produce_consume(client)
        test_delayed(client, pulsar.ConsumerType.Shared, "shared")
        test_key_shared(client)
        test_delayed(client, pulsar.ConsumerType.KeyShared, "key_shared")
    finally:
        client.close()
    if failures:
        print(f"smoke: {len(failures)} check(s) failed")
        return 1
    print("smoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
