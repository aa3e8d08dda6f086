"""The JSON Schema of a worker config, for editor completion and CI checks of YAML files.

`infinitic config schema > infinitic.schema.json`, then in the YAML file (yaml-language-server):
`# yaml-language-server: $schema=infinitic.schema.json`. The loader stays the judge (it
resolves classes and checks what a schema cannot); tests/config/test_schema.py keeps the keys
here equal to the ones the loader and the backends accept.
"""

from __future__ import annotations

from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# a value written `${VAR}` / `${VAR:-default}` is a string in the file whatever its final type
_REFERENCE = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$"}


def _num(description: str, *, integer: bool = False, minimum: float | None = 0) -> dict[str, Any]:
    kind: dict[str, Any] = {"type": "integer" if integer else "number"}
    if minimum is not None:
        kind["exclusiveMinimum"] = minimum
    return {"description": description, "anyOf": [kind, _REFERENCE]}


def _str(description: str, **more: Any) -> dict[str, Any]:
    return {"description": description, "type": "string", **more}


def _bool(description: str) -> dict[str, Any]:
    return {"description": description, "anyOf": [{"type": "boolean"}, _REFERENCE]}


def _closed(properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **more}


def _options(properties: dict[str, Any]) -> dict[str, Any]:
    # backends also take snake_case spellings of their options: completion, not refusal
    return {"type": ["object", "null"], "properties": properties}


def _backend(description: str, kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "description": description,
        "oneOf": [
            {"enum": sorted(kinds)},
            *(
                _closed({name: options}, required=[name], minProperties=1, maxProperties=1)
                for name, options in kinds.items()
            ),
        ],
    }


RETRY = _closed(
    {
        "minimumSeconds": _num("delay before the first retry (default 1)"),
        "maximumSeconds": _num("longest delay (default 1000 x minimumSeconds)"),
        "backoffCoefficient": _num("growth of the delay per retry (default 2, >= 1)", minimum=None),
        "randomFactor": _num("jitter, in [0, 1] (default 0.5)", minimum=None),
        "maximumRetries": _num(
            "retries before the task fails (default 11)", integer=True, minimum=None
        ),
        "ignoredExceptions": {
            "description": "qualified names of exceptions not retried (subclasses match)",
            "type": "array",
            "items": {"type": "string", "minLength": 1},
        },
    },
    description="truncated randomized exponential backoff (overrides decorators and WithRetry)",
)

_NAME = _str("the @name of the class, else its interface's qualified name", minLength=1)
_CLASS = _str("importable path of the implementation class: package.module.Class", minLength=1)
_CONCURRENCY = _num("how many run in parallel (default 1)", integer=True)
_TIMEOUT = _num("runtime timeout of one attempt, in seconds")

BATCH = _closed(
    {
        "maxMessages": _num("most messages in a batch", integer=True),
        "maxSeconds": _num("a batch closes this long after its first message"),
    },
    required=["maxMessages", "maxSeconds"],
    description="take messages in batches (services: run @batch methods on them)",
)

SERVICE = _closed(
    {
        "name": _NAME,
        "class": _CLASS,
        "concurrency": _CONCURRENCY,
        "timeoutInSeconds": _TIMEOUT,
        "timeoutSeconds": _TIMEOUT,
        "retry": RETRY,
        "batch": BATCH,
    },
    required=["name"],
)

WORKFLOW = _closed(
    {
        "name": _NAME,
        "class": _CLASS,
        "concurrency": _CONCURRENCY,
        "timeoutInSeconds": _num("a workflow task running longer fails (default 60)"),
        "timeoutSeconds": _num("synonym of timeoutInSeconds"),
        "checkMode": {
            "description": "how replay compares new code with the history (default simple)",
            "enum": ["none", "simple", "strict"],
        },
        "retentionSeconds": _num("how long an ended instance keeps its result (default 86400)"),
        "stateCacheSize": _num("states kept decoded (default 10000)", integer=True, minimum=None),
        "redriveAfterSeconds": _num("a running instance not moved this long is re-driven (60)"),
        "tombstoneSeconds": _num(
            "how long a late copy of an ended instance's start is refused (604800)", minimum=None
        ),
        "classes": {
            "description": "implementations, one per version (the _N class-name suffix): a "
            "list, or one string separated by commas (`classes: ${BOOKING_VERSIONS}`)",
            "anyOf": [
                {"type": "array", "items": {"type": "string", "minLength": 1}},
                {"type": "string", "minLength": 1},
            ],
        },
        "batch": BATCH,
    },
    required=["name"],
)

_COMPRESSION = {"description": "compress stored values over 256 bytes", "enum": ["zlib", "zstd"]}
_SECRET = _str("a secret: write it ${LIKE_THIS} and keep it in the environment")

STORAGE = _backend(
    "where workflow state and tags live (default inMemory)",
    {
        "inMemory": {**_options({"compression": _COMPRESSION}), "additionalProperties": False},
        "sqlite": _options(
            {
                "path": _str("the database file, created if missing"),
                "synchronous": {"enum": ["NORMAL", "FULL", "OFF", "EXTRA"]},
                "busyTimeout": _num("seconds to wait for a lock held by another process"),
                "readThreads": _num("threads serving reads", integer=True),
                "createTables": _bool("create the tables when missing"),
                "maxBatch": _num("state changes per transaction at most", integer=True),
                "compression": _COMPRESSION,
            }
        ),
        "redis": _options(
            {
                "url": _str("redis://[user:password@]host:port/db (or host, port...)"),
                "host": _str("server host"),
                "port": _num("server port", integer=True),
                "username": _str("ACL user"),
                "password": _SECRET,
                "database": _num("database number", integer=True, minimum=None),
                "ssl": _bool("connect over TLS"),
                "sslCaCerts": _str("CA bundle for TLS"),
                "poolSize": _num("connections at most", integer=True),
                "keyPrefix": _str("prefix of every key"),
                "timeoutSeconds": _num("timeout of one command"),
                "retrySeconds": _num("how long an outage is retried before failing"),
                "createTables": _bool("check or set up the server on start"),
                "maxValueBytes": _num("largest stored value", integer=True),
                "compression": _COMPRESSION,
            }
        ),
        "mysql": _options(
            {
                "host": _str("server host"),
                "port": _num("server port", integer=True),
                "user": _str("user"),
                "username": _str("synonym of user"),
                "password": _SECRET,
                "database": _str("database (schema) name"),
                "socket": _str("unix socket path, instead of host and port"),
                "unixSocket": _str("synonym of socket"),
                "poolSize": _num("connections at most", integer=True),
                "tablePrefix": _str("prefix of the table names"),
                "keyValueTable": _str("name of the key-value table"),
                "keySetTable": _str("name of the key-set table"),
                "schemaTable": _str("name of the schema version table"),
                "createTables": _bool("create the tables when missing"),
                "timeoutSeconds": _num("timeout of one statement"),
                "retryTimeoutSeconds": _num("how long an outage is retried before failing"),
                "maxBatch": _num("state changes per transaction at most", integer=True),
                "maxValueBytes": _num("largest stored value", integer=True),
                "compression": _COMPRESSION,
            }
        ),
    },
)

_PULSAR = _closed(
    {
        "brokerServiceUrl": _str("pulsar://host:6650 or pulsar+ssl://host:6651"),
        "webServiceUrl": _str("admin URL, to create the tenant and namespace"),
        "tenant": _str("Pulsar tenant (default public)"),
        "namespace": _str("Pulsar namespace (default default)"),
        "createTenantAndNamespace": _bool("create them when missing (default true)"),
        "allowedClusters": {"type": "array", "items": {"type": "string"}},
        "shutdownGracePeriodSeconds": _num(
            "time given to in-flight messages on close", minimum=None
        ),
        "pipelined": _bool(
            "take a key's next message once its state is saved, not once its sends are "
            "confirmed (default true)"
        ),
        "handOffInProcess": _bool(
            "run a workflow task in the worker whose engine sent it, when that worker runs "
            "the workflow's task executor (default true)"
        ),
        "client": _closed(
            {
                "authentication": {
                    "oneOf": [
                        _closed({"token": _SECRET}, required=["token"]),
                        _closed(
                            {
                                "oauth2": {
                                    "type": "object",
                                    "properties": {
                                        "issuerUrl": _str("OAuth2 issuer"),
                                        "privateKey": _SECRET,
                                        "audience": _str("OAuth2 audience"),
                                    },
                                    "required": ["issuerUrl", "privateKey"],
                                }
                            },
                            required=["oauth2"],
                        ),
                    ]
                },
                "tlsTrustCertsFilePath": _str("CA bundle of the broker"),
                "tlsAllowInsecureConnection": _bool("accept any broker certificate"),
                "tlsValidateHostname": _bool("check the broker's hostname"),
                "tlsCertificateFilePath": _str("client certificate (mutual TLS)"),
                "tlsKeyFilePath": _str("client key (mutual TLS)"),
                "operationTimeoutSeconds": _num("timeout of one operation"),
                "ioThreads": _num("client I/O threads", integer=True),
                "listenerThreads": _num("client listener threads", integer=True),
                "connectionTimeoutSeconds": _num("timeout of a connection"),
            }
        ),
        "producer": _closed(
            {
                "batchingEnabled": _bool("batch messages"),
                "batchingMaxPublishDelayMillis": _num(
                    "longest batching delay (default 0: as soon as the client can)", integer=True
                ),
                "keyBuckets": _num(
                    "keyed messages routed and batched by crc32(key) % keyBuckets (0: by key)",
                    integer=True,
                ),
                "compressionType": {"enum": ["NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY"]},
                "maxPendingMessages": _num("messages in flight at most", integer=True),
            }
        ),
        "consumer": _closed(
            {
                "receiverQueueSize": _num("messages prefetched", integer=True),
                "ackTimeoutSeconds": _num("redelivery of unacknowledged messages"),
                "negativeAckRedeliveryDelaySeconds": _num("delay of a negative ack"),
                "maxRedeliverCount": _num("deliveries before the dead letter", integer=True),
                "maxInFlight": _num("messages handled at once", integer=True),
                "keyedShards": _num(
                    "least number of ordered lanes of a keyed subscription (default 16)",
                    integer=True,
                ),
                "maxCoalesced": _num(
                    "queued messages of one workflow applied in one step (default 500)",
                    integer=True,
                ),
            }
        ),
    },
    required=["brokerServiceUrl"],
)

TRANSPORT = _backend(
    "how messages travel (default inMemory: one process; sqlite: the processes of one machine)",
    {
        "inMemory": {
            "type": ["object", "null"],
            "properties": {"channel": _str("bus name shared by the configs of one process")},
            "additionalProperties": False,
        },
        "sqlite": {
            "type": ["object", "null"],
            "properties": {
                "path": _str("the SQLite file of the messages (default: the sqlite storage's)"),
                "leaseSeconds": _num("a dead process's messages go to another after this"),
                "maxRedeliveries": _num("handlings before the dead letter", integer=True),
                "redeliveryDelaySeconds": _num("delay after a failed handling", minimum=None),
                "pollIntervalSeconds": _num("longest idle sleep without inotify"),
                "synchronous": _str("NORMAL or FULL", enum=["OFF", "NORMAL", "FULL", "EXTRA"]),
                "busyTimeoutSeconds": _num("wait for the file's write lock"),
                "prefetch": _num("messages claimed ahead per handler", integer=True),
            },
            "additionalProperties": False,
        },
        "pulsar": _PULSAR,
    },
)

_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}}
_HEARD = _closed({"allow": _NAMES, "disallow": _NAMES})
EVENT_LISTENER = _closed(
    {
        "class": _str("module.Class with on_events(self, events)", minLength=1),
        "concurrency": _num("batches handed over at once (default 1)", integer=True),
        "subscriptionName": _str(
            "on Pulsar, the listener's own subscription to the events topic", minLength=1
        ),
        "services": _HEARD,
        "workflows": _HEARD,
    },
    required=["class"],
)
METRICS = _closed(
    {
        "prometheus": _closed(
            {
                "host": _str("address of /metrics (default 127.0.0.1)", minLength=1),
                "port": _num("port of /metrics (default 9464; 0: any)", integer=True, minimum=None),
            }
        )
    },
    required=["prometheus"],
)
DASHBOARD = {
    **_closed(
        {
            "host": _str("address of the dashboard (default 127.0.0.1)", minLength=1),
            "port": _num(
                "port of the dashboard (default 8080; 0: any)", integer=True, minimum=None
            ),
            "token": _str("required by its pages, API and actions when set", minLength=1),
        }
    ),
    "type": ["object", "null"],
}

WORKER = _closed(
    {
        "name": _str("worker name: in logs, task.worker_name and error chains", minLength=1),
        "transport": TRANSPORT,
        "storage": STORAGE,
        "services": {"type": ["array", "null"], "items": SERVICE},
        "workflows": {"type": ["array", "null"], "items": WORKFLOW},
        "shutdownGracePeriodSeconds": _num("time given to running tasks on close", minimum=None),
        "maxPayloadBytes": _num("largest JSON payload (default 16 MiB)", integer=True),
        "tuneGarbageCollector": _bool(
            "collect garbage less often, for throughput (default true; CPython defaults only)"
        ),
        "eventListener": EVENT_LISTENER,
        "metrics": METRICS,
        "dashboard": DASHBOARD,
    }
)


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a worker config file."""
    return {
        "$schema": DIALECT,
        "title": "infinitic worker config",
        **WORKER,
    }
