"""`transport: {pulsar: {...}}`: Infinitic's keys, validated, secrets kept out of reprs."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...common.options import OptionNames
from ...errors import ConfigError

_TOP = {
    "brokerServiceUrl",
    "webServiceUrl",
    "tenant",
    "namespace",
    "createTenantAndNamespace",
    "allowedClusters",
    "client",
    "producer",
    "consumer",
    "shutdownGracePeriodSeconds",
    "pipelined",
    "handOffInProcess",
}
_CLIENT = {
    "authentication",
    "tlsTrustCertsFilePath",
    "tlsAllowInsecureConnection",
    "tlsValidateHostname",
    "tlsCertificateFilePath",
    "tlsKeyFilePath",
    "operationTimeoutSeconds",
    "ioThreads",
    "listenerThreads",
    "connectionTimeoutSeconds",
}
_PRODUCER = {
    "batchingEnabled",
    "batchingMaxPublishDelayMillis",
    "keyBuckets",
    "compressionType",
    "maxPendingMessages",
}
_CONSUMER = {
    "receiverQueueSize",
    "ackTimeoutSeconds",
    "negativeAckRedeliveryDelaySeconds",
    "maxRedeliverCount",
    "maxInFlight",
    "keyedShards",
    "maxCoalesced",
}
_COMPRESSIONS = {"NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY"}


@dataclass(frozen=True)
class PulsarSettings:
    broker_service_url: str
    web_service_url: str | None = None
    tenant: str = "public"
    namespace: str = "default"
    create_tenant_and_namespace: bool = True
    allowed_clusters: tuple[str, ...] = ()
    # a shard takes its next message once its handler returned, not once its sends are
    # confirmed (the message is acknowledged then); see docs/topics.md
    pipelined: bool = True
    # a workflow task for a workflow whose task executor this worker runs is run here
    hand_off_in_process: bool = True
    # client
    token: str | None = field(default=None, repr=False)
    oauth2: Mapping[str, str] | None = field(default=None, repr=False)
    tls_trust_certs_file_path: str | None = None
    tls_allow_insecure_connection: bool = False
    tls_validate_hostname: bool = True
    tls_certificate_file_path: str | None = None
    tls_key_file_path: str | None = None
    operation_timeout_seconds: float = 30.0
    connection_timeout_seconds: float = 10.0
    io_threads: int = 1
    listener_threads: int = 1
    # producer
    batching_enabled: bool = True
    # 0: a batch leaves as soon as the client's I/O thread gets to it, so batches form only
    # while that thread is busy (load) and a lone message does not wait; see docs/topics.md
    batching_max_publish_delay_ms: int = 0
    # keyed messages get the ordering key crc32(key) % keyBuckets: Key_Shared routes and the
    # producer batches by it, so one batch carries many workflows (0: by the key itself, one
    # batch per key); every worker and client of a namespace must use the same value
    key_buckets: int = 64
    compression_type: str = "NONE"
    max_pending_messages: int = 10_000
    # consumer
    receiver_queue_size: int = 1000
    ack_timeout_seconds: float = 0.0  # 0: none (nack and redelivery count instead); else >= 10
    negative_ack_redelivery_delay_seconds: float = 1.0
    max_redeliver_count: int = 5
    max_in_flight: int = 1000
    keyed_shards: int = 16
    # queued messages of one workflow an engine applies in one step, at most (1: one at a time)
    max_coalesced: int = 500

    def topic(self, name: str) -> str:
        return f"persistent://{self.tenant}/{self.namespace}/{name}"

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS trust of the binary client, for Python's own connections (admin, probe)."""
        context = ssl.create_default_context(cafile=self.tls_trust_certs_file_path)
        if self.tls_allow_insecure_connection:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context.check_hostname = self.tls_validate_hostname
        if self.tls_certificate_file_path and self.tls_key_file_path:
            context.load_cert_chain(self.tls_certificate_file_path, self.tls_key_file_path)
        return context

    @classmethod
    def from_options(cls, options: Mapping[str, Any], source: str = "<dict>") -> PulsarSettings:
        def err(key: str, problem: str) -> ConfigError:
            return ConfigError(f"{source}: transport.pulsar.{key}: {problem}")

        def check_keys(block: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
            where = f"{source}: transport.pulsar.{prefix}".rstrip(".")
            OptionNames.plain(allowed).arguments(block, where, "unknown key; allowed:")

        def mapping(value: Any, key: str) -> Mapping[str, Any]:
            if value is None:
                return {}
            if not isinstance(value, Mapping):
                raise err(key, f"expected a mapping, got {type(value).__name__}")
            return value

        check_keys(options, _TOP, "")
        url = options.get("brokerServiceUrl")
        if not isinstance(url, str) or not url.startswith(("pulsar://", "pulsar+ssl://")):
            raise err("brokerServiceUrl", "required: pulsar://host:6650 or pulsar+ssl://host:6651")
        client = mapping(options.get("client"), "client")
        producer = mapping(options.get("producer"), "producer")
        consumer = mapping(options.get("consumer"), "consumer")
        check_keys(client, _CLIENT, "client.")
        check_keys(producer, _PRODUCER, "producer.")
        check_keys(consumer, _CONSUMER, "consumer.")
        auth = mapping(client.get("authentication"), "client.authentication")
        token = oauth2 = None
        if auth:
            if set(auth) - {"token", "oauth2"} or len(auth) != 1:
                raise err("client.authentication", "use exactly one of 'token' or 'oauth2'")
            if "token" in auth:
                token = auth["token"]
                if not isinstance(token, str) or not token:
                    raise err("client.authentication.token", "expected a non-empty string")
            else:
                oauth2 = dict(mapping(auth["oauth2"], "client.authentication.oauth2"))
                for key in ("issuerUrl", "privateKey"):
                    if not isinstance(oauth2.get(key), str):
                        raise err(f"client.authentication.oauth2.{key}", "required string")
        compression = str(producer.get("compressionType", "NONE")).upper()
        if compression not in _COMPRESSIONS:
            raise err("producer.compressionType", f"one of {sorted(_COMPRESSIONS)}")
        buckets = producer.get("keyBuckets", 64)
        if isinstance(buckets, int) and buckets > 65536:
            raise err("producer.keyBuckets", "at most 65536 (Key_Shared's hash range)")
        ack_timeout = float(consumer.get("ackTimeoutSeconds", 0.0))
        if 0 < ack_timeout < 10:
            raise err(
                "consumer.ackTimeoutSeconds", "must be 0 (off) or at least 10 (a client limit)"
            )

        def text(block: Mapping[str, Any], key: str, where: str) -> str | None:
            value = block.get(key)
            if value is not None and not isinstance(value, str):
                raise err(f"{where}{key}", "expected a string")
            return value

        def number(
            block: Mapping[str, Any], key: str, where: str, default: Any, kind: type = float
        ) -> Any:
            value = block.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise err(f"{where}{key}", f"expected a non-negative number, got {value!r}")
            return kind(value)

        def flag(block: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
            value = block.get(key, default)
            if not isinstance(value, bool):
                raise err(f"{where}{key}", f"expected true or false, got {value!r}")
            return value

        clusters = options.get("allowedClusters", [])
        if not isinstance(clusters, list) or not all(isinstance(c, str) for c in clusters):
            raise err("allowedClusters", "expected a list of cluster names")
        return cls(
            broker_service_url=url,
            web_service_url=text(options, "webServiceUrl", ""),
            tenant=text(options, "tenant", "") or "public",
            namespace=text(options, "namespace", "") or "default",
            create_tenant_and_namespace=flag(options, "createTenantAndNamespace", "", True),
            allowed_clusters=tuple(clusters),
            pipelined=flag(options, "pipelined", "", True),
            hand_off_in_process=flag(options, "handOffInProcess", "", True),
            token=token,
            oauth2=oauth2,
            tls_trust_certs_file_path=text(client, "tlsTrustCertsFilePath", "client."),
            tls_allow_insecure_connection=flag(
                client, "tlsAllowInsecureConnection", "client.", False
            ),
            tls_validate_hostname=flag(client, "tlsValidateHostname", "client.", True),
            tls_certificate_file_path=text(client, "tlsCertificateFilePath", "client."),
            tls_key_file_path=text(client, "tlsKeyFilePath", "client."),
            operation_timeout_seconds=number(client, "operationTimeoutSeconds", "client.", 30.0),
            connection_timeout_seconds=number(client, "connectionTimeoutSeconds", "client.", 10.0),
            io_threads=number(client, "ioThreads", "client.", 1, int),
            listener_threads=number(client, "listenerThreads", "client.", 1, int),
            batching_enabled=flag(producer, "batchingEnabled", "producer.", True),
            batching_max_publish_delay_ms=number(
                producer, "batchingMaxPublishDelayMillis", "producer.", 0, int
            ),
            key_buckets=number(producer, "keyBuckets", "producer.", 64, int),
            compression_type=compression,
            max_pending_messages=number(producer, "maxPendingMessages", "producer.", 10_000, int),
            receiver_queue_size=number(consumer, "receiverQueueSize", "consumer.", 1000, int),
            ack_timeout_seconds=ack_timeout,
            negative_ack_redelivery_delay_seconds=number(
                consumer, "negativeAckRedeliveryDelaySeconds", "consumer.", 1.0
            ),
            max_redeliver_count=number(consumer, "maxRedeliverCount", "consumer.", 5, int),
            max_in_flight=number(consumer, "maxInFlight", "consumer.", 1000, int) or 1000,
            keyed_shards=number(consumer, "keyedShards", "consumer.", 16, int) or 1,
            max_coalesced=number(consumer, "maxCoalesced", "consumer.", 500, int) or 1,
        )
