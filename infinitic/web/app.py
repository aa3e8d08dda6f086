"""The dashboard's Starlette app: HTML pages, the JSON API under /api/, and the actions.

Security (docs/security.md): an optional token, sent as `Authorization: Bearer <token>` or
the HttpOnly cookie that the login form sets, is required by every page and API route; actions
are POSTs that carry the page's CSRF token in `X-CSRF-Token` (a header no cross-site form can
set) from the same origin; every page is served with a Content-Security-Policy that runs only
the dashboard's own script.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import data, render

if TYPE_CHECKING:
    from ..client import InfiniticClient

log = logging.getLogger("infinitic.web")

COOKIE = "infinitic_dashboard"
OVERVIEW_SECONDS = 2.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
STATIC = Path(__file__).parent / "static"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
Endpoint = Callable[[Request], Response]


def create_app(
    client: InfiniticClient,
    *,
    token: str | None = None,
    topic_stats: Callable[[], list[dict[str, Any]]] | None = None,
    bind: str | None = None,
) -> Starlette:
    """The dashboard over `client` (which must read a storage: describe/list).

    `token`: required by pages and API when set. `topic_stats`: the Pulsar panel's source
    (None on other transports: no panel). `bind`: the address it listens on; on a loopback
    address, requests must name a loopback host (a DNS-rebinding page cannot reach it)."""
    csrf = secrets.token_urlsafe(32)
    # the overview scans up to 10,000 index entries: pages polling it share one answer a while
    cached: list[Any] = [0.0, None]
    cache_lock = threading.Lock()

    def overview() -> dict[str, Any]:
        with cache_lock:
            if cached[1] is None or time.monotonic() - cached[0] > OVERVIEW_SECONDS:
                cached[:] = [time.monotonic(), data.overview(client)]
            return cached[1]  # type: ignore[no-any-return]

    def authorized(request: Request) -> bool:
        if token is None:
            return True
        given = request.cookies.get(COOKIE, "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        return hmac.compare_digest(given.encode(), token.encode())

    def guarded(endpoint: Endpoint, api: bool) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool

            if not authorized(request):
                if api:
                    return _json({"error": "a valid token is required"}, 401)
                return RedirectResponse("/login", status_code=303)
            if request.method == "POST" and not _same_origin(request, csrf):
                return _json({"error": "CSRF check failed: reload the page and try again"}, 403)
            # the client's calls block (they run on the client's event loop): off this one
            response: Response = await run_in_threadpool(endpoint, request)
            return response

        return run

    def page(title: str, body: str, request: Request) -> Response:
        if request.query_params.get("fragment") == "1":
            return _html(body)
        return _html(render.layout(title, body, csrf, request.url.path))

    def overview_page(request: Request) -> Response:
        return page("Overview", render.overview(overview(), _pulsar()), request)

    def list_view(request: Request) -> Response:
        q = request.query_params
        filters = {k: q.get(k) or None for k in ("name", "status", "tag", "cursor")}
        try:
            listing = data.list_page(client, **filters)  # type: ignore[arg-type]
        except data.BadRequest as exc:
            return page("Workflows", render.problem(str(exc)), request)
        return page("Workflows", render.workflows(listing, filters), request)

    def workflow_page(request: Request) -> Response:
        name, workflow_id = request.path_params["name"], request.path_params["id"]
        info = data.describe(client, name, workflow_id)
        if info is None:
            body = render.problem(
                f"no {name} instance {workflow_id} in the storage (never started, or ended "
                "beyond its retention)"
            )
            return page(workflow_id, body, request)
        return page(f"{name} {workflow_id}", render.workflow(info), request)

    def api_overview(request: Request) -> Response:
        return _json({**overview(), "pulsar": _pulsar()})

    def api_list(request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", "50"))
            listing = data.list_page(
                client, q.get("name"), q.get("status"), q.get("tag"), limit, q.get("cursor")
            )
        except (ValueError, data.BadRequest) as exc:
            return _json({"error": str(exc)}, 400)
        return _json(listing)

    def api_describe(request: Request) -> Response:
        info = data.describe(client, request.path_params["name"], request.path_params["id"])
        return _json({"error": "no such instance"}, 404) if info is None else _json(info)

    def api_act(request: Request) -> Response:
        p = request.path_params
        body = request.state.body
        try:
            outcome = data.act(client, p["name"], p["id"], p["action"], body)
        except data.BadRequest as exc:
            return _json({"error": str(exc)}, 400)
        except Exception as exc:  # noqa: BLE001 - shown to the operator, who acted
            log.warning("dashboard action %s failed: %s", p["action"], exc)
            return _json({"error": f"{type(exc).__name__}: {exc}"}, 502)
        return _json({"outcome": outcome})

    def api_csrf(request: Request) -> Response:
        return _json({"csrf": csrf})

    def _pulsar() -> list[dict[str, Any]] | dict[str, str] | None:
        if topic_stats is None:
            return None
        try:
            return topic_stats()
        except Exception as exc:  # noqa: BLE001 - the panel says why it is empty
            return {"error": str(exc)}

    async def act_route(request: Request) -> Response:
        request.state.body = await request.body()
        return await guarded(api_act, True)(request)

    async def login_form(request: Request) -> Response:
        return _html(render.layout("Sign in", render.login(), csrf, "/login"))

    async def login(request: Request) -> Response:
        # a urlencoded form of one field: parsed here, without python-multipart
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            return _html(render.layout("Sign in", render.login(failed=True), csrf, "/login"), 401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    routes = [
        Route("/", guarded(overview_page, False)),
        Route("/workflows", guarded(list_view, False)),
        Route("/workflows/{name}/{id}", guarded(workflow_page, False)),
        Route("/login", login_form),
        Route("/login", login, methods=["POST"]),
        Route("/api/csrf", guarded(api_csrf, True)),
        Route("/api/overview", guarded(api_overview, True)),
        Route("/api/workflows", guarded(api_list, True)),
        Route("/api/workflows/{name}/{id}", guarded(api_describe, True)),
        Route("/api/workflows/{name}/{id}/{action}", act_route, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(BaseHTTPMiddleware, dispatch=_headers)]
    if bind in LOOPBACK:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=sorted(LOOPBACK)))
    return Starlette(routes=routes, middleware=middleware)


async def _headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
    return response


def _same_origin(request: Request, csrf: str) -> bool:
    given = request.headers.get("x-csrf-token", "")
    if not hmac.compare_digest(given.encode(), csrf.encode()):
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _json(value: Any, status: int = 200) -> Response:
    return JSONResponse(value, status_code=status)


def _html(body: str, status: int = 200) -> Response:
    return HTMLResponse(body, status_code=status)
