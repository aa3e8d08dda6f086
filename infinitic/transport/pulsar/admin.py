"""Creates the tenant and namespace through the admin REST API when they are missing.

Over https the API is trusted with the same settings as the binary protocol
(tlsTrustCertsFilePath, tlsAllowInsecureConnection, tlsValidateHostname, client certificate),
and the same token is sent; errors name the URL and what to check, never the token.
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from .errors import PulsarAdminError, PulsarAuthenticationError, PulsarTlsError
from .settings import PulsarSettings

log = logging.getLogger("infinitic.transport.pulsar")

__all__ = ["PulsarAdminError", "ensure_namespace", "topic_stats"]


def _call(settings: PulsarSettings, method: str, path: str, body: Any = None) -> Any:
    assert settings.web_service_url
    base = settings.web_service_url.rstrip("/")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if settings.token:
        request.add_header("Authorization", f"Bearer {settings.token}")
    try:
        context = settings.ssl_context() if base.startswith("https://") else None
    except (OSError, ssl.SSLError) as exc:
        raise PulsarTlsError(
            f"pulsar admin at {base}: cannot load the TLS files ({exc}); check "
            "transport.pulsar.client.tlsTrustCertsFilePath / tlsCertificateFilePath / tlsKeyFilePath"
        ) from None
    try:
        with urllib.request.urlopen(
            request, timeout=settings.operation_timeout_seconds, context=context
        ) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response (over TLS, an SSL socket) open
        if exc.code == 409:  # already exists
            return None
        if exc.code == 401:
            raise PulsarAuthenticationError(
                f"pulsar admin at {base}: authentication failed (HTTP 401 on {method} {path}): "
                "the broker refused the credentials, or needs some; check "
                "transport.pulsar.client.authentication"
            ) from None
        if exc.code == 403:
            raise PulsarAuthenticationError(
                f"pulsar admin at {base}: authorization failed (HTTP 403 on {method} {path}): "
                "the token's role may not do this; make it a super-user or the tenant's admin, "
                "or create the tenant and namespace beforehand (createTenantAndNamespace: false)"
            ) from None
        raise PulsarAdminError(
            f"pulsar admin {method} {base}{path} failed: HTTP {exc.code} {exc.reason}"
        ) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise PulsarTlsError(
                f"pulsar admin at {base}: TLS failed: its certificate is not trusted "
                f"({reason.verify_message}); check transport.pulsar.client.tlsTrustCertsFilePath"
            ) from None
        if isinstance(reason, ssl.SSLError):
            raise PulsarTlsError(
                f"pulsar admin at {base}: TLS handshake failed ({reason}); is it an https port?"
            ) from None
        raise PulsarAdminError(f"pulsar admin at {base} unreachable: {reason}") from None
    except (OSError, ValueError) as exc:  # a reset connection, a non-JSON answer
        raise PulsarAdminError(
            f"pulsar admin {method} {base}{path} failed: {type(exc).__name__}: {exc}"
        ) from None


def ensure_namespace(settings: PulsarSettings) -> None:
    """Blocking: creates `tenant/namespace` if missing (idempotent)."""
    if not settings.web_service_url:
        return
    tenants = _call(settings, "GET", "/admin/v2/tenants") or []
    if settings.tenant not in tenants:
        clusters = (
            list(settings.allowed_clusters) or _call(settings, "GET", "/admin/v2/clusters") or []
        )
        _call(
            settings,
            "PUT",
            f"/admin/v2/tenants/{settings.tenant}",
            {"allowedClusters": clusters, "adminRoles": []},
        )
        log.info("created pulsar tenant %s", settings.tenant)
    namespaces = _call(settings, "GET", f"/admin/v2/namespaces/{settings.tenant}") or []
    full = f"{settings.tenant}/{settings.namespace}"
    if full not in namespaces:
        _call(settings, "PUT", f"/admin/v2/namespaces/{full}")
        log.info("created pulsar namespace %s", full)


def topic_stats(settings: PulsarSettings) -> list[dict[str, Any]]:
    """Blocking: backlog and consumers of each topic of the namespace (the dashboard's panel),
    as [{"topic": local name, "backlog": n, "consumers": n}], sorted by topic."""
    if not settings.web_service_url:
        return []
    base = f"/admin/v2/persistent/{quote(settings.tenant)}/{quote(settings.namespace)}"
    rows = []
    for full in _call(settings, "GET", base) or []:
        local = str(full).rsplit("/", 1)[-1]
        if "-partition-" in local:
            continue
        stats = _call(settings, "GET", f"{base}/{quote(local, safe=':')}/stats") or {}
        subscriptions = (stats.get("subscriptions") or {}).values()
        rows.append(
            {
                "topic": local,
                "backlog": sum(int(s.get("msgBacklog", 0)) for s in subscriptions),
                "consumers": sum(len(s.get("consumers") or []) for s in subscriptions),
            }
        )
    return sorted(rows, key=lambda r: r["topic"])
