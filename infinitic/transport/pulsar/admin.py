"""Creates the tenant and namespace through the admin REST API when they are missing."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from ...errors import InfiniticError
from .settings import PulsarSettings

log = logging.getLogger("infinitic.transport.pulsar")


class PulsarAdminError(InfiniticError):
    """The admin REST API refused or could not be reached."""


def _call(settings: PulsarSettings, method: str, path: str, body: Any = None) -> Any:
    assert settings.web_service_url
    url = settings.web_service_url.rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if settings.token:
        request.add_header("Authorization", f"Bearer {settings.token}")
    try:
        with urllib.request.urlopen(
            request, timeout=settings.operation_timeout_seconds
        ) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        if exc.code == 409:  # already exists
            return None
        raise PulsarAdminError(
            f"pulsar admin {method} {path} failed: HTTP {exc.code} {exc.reason}"
        ) from None
    except urllib.error.URLError as exc:
        raise PulsarAdminError(
            f"pulsar admin at {settings.web_service_url} unreachable: {exc.reason}"
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
