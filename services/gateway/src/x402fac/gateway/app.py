"""The Litestar app: thin handlers over `Facilitator`, every route also under /facilitator."""

import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
from litestar import HttpMethod, Litestar, Request, Response, Router, get, post, route
from litestar.datastructures import ResponseHeader, State
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from nats.aio.client import Client

from x402fac.bus import Credentials, connect, disconnect
from x402fac.protocol import REASON_DESCRIPTIONS, SettleResponse, SupportedResponse, VerifyResponse
from x402fac.protocol.ledger import ApiKey
from x402fac.telemetry import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    NATS_CONNECTED,
    labelled,
    metrics_text,
    server_span,
    tracer,
)

from . import admin, dashboard, discovery, whitelist
from .auth import Access, presented_key
from .config import GatewayConfig
from .core import Answer, Facilitator
from .edge import ALL, Admission, request_ip
from .errors import GatewayError
from .openapi import (
    PAYMENT_ERRORS,
    ROUTE_ERRORS,
    HealthBody,
    IndexBody,
    add_request_bodies,
    add_security_schemes,
    operation_with_body,
)

log = logging.getLogger(__name__)
_tracer = tracer("x402fac.gateway")
VERSION = "0.1.0"
JSON = "application/json"
REASONS_DOC = "\n".join(f"- `{reason.value}`: {text}" for reason, text in REASON_DESCRIPTIONS.items())


def _facilitator(state: State) -> Facilitator:
    return state.facilitator


async def timed(route: str, produce: Callable[[], Awaitable[Answer]]) -> Answer:
    """`produce`'s answer (a GatewayError as its JSON error), counted and timed under `route`."""
    started = time.perf_counter()
    try:
        answer = await produce()
    except GatewayError as error:
        answer = Answer(error.body(), error.status, error.headers())
    labelled(HTTP_REQUESTS, route, str(answer.status)).inc()
    labelled(HTTP_LATENCY, route).observe(time.perf_counter() - started)
    return answer


async def until_disconnected(receive: Callable[[], Awaitable[dict]]) -> None:
    """Completes when the client goes away (the body is read, so the next ASGI message is the end)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def payment_answer(
    facilitator: Facilitator,
    kind: str,
    body: bytes,
    address: str,
    key: ApiKey | None,
    hung_up: Callable[[], Awaitable[object]],
) -> Answer:
    """A verify or settle request's answer, its API key already checked (None: anonymous)."""
    if key is None and facilitator.config.require_api_key:
        raise GatewayError(401, "unauthorized", "an API key is required (x-api-key or Bearer)")
    key_id = key.id if key is not None else ""
    if kind == "verify":
        return await facilitator.verify(body, address, api_key_id=key_id)
    # a settle is told when its caller hangs up, so the payment's success is kept for a retry
    return await facilitator.settle(body, address, hung_up, api_key_id=key_id)


async def _serve(kind: str, request: Request, state: State) -> Response:
    """The Litestar route of a payment request: what `direct.payment_routes` serves in production
    (the same answer), kept for the OpenAPI document and an app used without it."""
    facilitator = _facilitator(state)
    body = await request.body()
    address = request_ip(request)
    key = request.state.api_key  # checked before the handler (keys_checked)

    async def produce() -> Answer:
        return await payment_answer(
            facilitator, kind, body, address, key, lambda: until_disconnected(request.receive)
        )

    with server_span(_tracer, f"POST {request.url.path}", request.headers) as span:
        answer = await timed(kind, produce)
        span.set_attribute("http.response.status_code", answer.status)
    return Response(answer.body, status_code=answer.status, media_type=JSON, headers=answer.headers)


def payment_route(path: str, summary: str, description: str, answer: type, *versions: int) -> Callable:
    """The decorator of a verify or settle route: its body by `x402Version` (`versions`), and every
    business outcome a 200 carrying `answer`."""
    return post(
        path,
        summary=summary,
        description=description,
        status_code=200,
        responses={200: ResponseSpec(data_container=answer), **PAYMENT_ERRORS},
        operation_class=operation_with_body(*versions),
    )


@payment_route(
    "/verify",
    "Verify a payment (reads the chain, never writes)",
    "Body: `{x402Version, paymentPayload, paymentRequirements}` (v2, or v1 with `x402Version: 1`).\n"
    "Business outcomes are HTTP 200 with `isValid` and a reason code:\n" + REASONS_DOC,
    VerifyResponse,
    2,
    1,
)
async def verify(request: Request, state: State) -> Response:
    return await _serve("verify", request, state)


@payment_route(
    "/settle",
    "Settle a payment on-chain (at most once per payment)",
    "Same body as /verify. `transaction` and `network` are always present; `settlement_pending` "
    "carries the transaction already sent, and a retry of the same settle returns the final outcome.",
    SettleResponse,
    2,
    1,
)
async def settle(request: Request, state: State) -> Response:
    return await _serve("settle", request, state)


def v1_route(served: HTTPRouteHandler, summary: str, description: str, answer: type) -> HTTPRouteHandler:
    """`served` again under /v1, documented as taking the v1 body (`x402Version: 1`)."""

    async def handler(request: Request, state: State) -> Response:
        return await served.fn(request, state)

    handler.__name__ = handler.__qualname__ = f"{served.handler_name}_v1"  # its OpenAPI operationId
    path = f"/v1{next(iter(served.paths))}"
    return payment_route(path, summary, f"The v1 body (`x402Version: 1`); {description}", answer, 1)(handler)


verify_v1 = v1_route(
    verify, "Verify an x402 v1 payment", "a v2 body is decoded by its version as on /verify.", VerifyResponse
)
settle_v1 = v1_route(
    settle, "Settle an x402 v1 payment", "legacy network names in the answer.", SettleResponse
)


@get(
    "/supported",
    summary="Payment kinds served by the live workers",
    responses={200: ResponseSpec(SupportedResponse), **ROUTE_ERRORS},
)
async def supported(state: State) -> Response:
    value = await _facilitator(state).supported.get()
    return Response(msgspec.json.encode(value), media_type=JSON)


@get(
    "/health",
    summary="Liveness and which worker families answer",
    responses={
        200: ResponseSpec(HealthBody),
        503: ResponseSpec(HealthBody, description="NATS is down"),
        **ROUTE_ERRORS,
    },
)
async def health(state: State) -> Response:
    facilitator = _facilitator(state)
    await facilitator.supported.get()
    connected = facilitator.nc.is_connected
    replicas = await facilitator.replicas.get() if connected else {}
    body = {
        "status": "ok" if connected else "degraded",
        "nats": "connected" if connected else "disconnected",
        "workers": facilitator.supported.live_families,
        "replicas": replicas,
        "replicasWithoutSettle": sorted(
            r["replica"] for family in replicas.values() for r in family if not r.get("settles")
        ),
    }
    return Response(body, status_code=200 if connected else 503, media_type=JSON)


@get("/", summary="Facilitator metadata", responses={200: ResponseSpec(IndexBody), **ROUTE_ERRORS})
async def index(state: State) -> Response:
    facilitator = _facilitator(state)
    current = await facilitator.supported.get()
    networks = sorted({kind.network for kind in current.kinds if kind.x402_version == 2})
    body = {
        "name": "x402fac",
        "version": VERSION,
        "x402Version": 2,
        "status": "healthy" if facilitator.nc.is_connected else "degraded",
        "endpoints": {
            "verify": "/verify",
            "settle": "/settle",
            "supported": "/supported",
            "v1Verify": "/v1/verify",
            "v1Settle": "/v1/settle",
            "health": "/health",
            "metrics": "/metrics",
            "openapi": "/schema",
            "whitelist": "/whitelist/:address",
            "discovery": "/discovery/resources",
            "search": "/discovery/search",
            "list": "/list",
            "dashboard": "/dashboard",
            "status": "/dashboard/api/status",
        },
        "networks": networks,
        "schemes": sorted({kind.scheme for kind in current.kinds}),
        "features": [
            "EIP-3009 TransferWithAuthorization",
            "Solana SPL Token TransferChecked",
            "Nano state send blocks",
            "CAIP-2 network identifiers",
            "v2 HTTP headers",
            "v1 backward compatibility",
            "Discovery extension (bazaar)",
            "Payment identifier extension",
            "At-most-once settlement",
        ],
    }
    return Response(body, media_type=JSON)


@get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = metrics_text()
    return Response(body, media_type=content_type)


HANDLERS = [index, health, supported, verify, settle, verify_v1, settle_v1, metrics]
# The facilitator API, served at the root and under /facilitator.
FACILITATOR_API = [*HANDLERS, *whitelist.FACILITATOR_HANDLERS, *discovery.FACILITATOR_HANDLERS]
# Served at the root only: the dashboard and the admin API.
OWN_HANDLERS = [*dashboard.HANDLERS, *admin.HANDLERS, *whitelist.HANDLERS, *discovery.HANDLERS]


def _http_error(_request: Request, exc: HTTPException) -> Response:
    error = GatewayError(exc.status_code, _ERROR_CODES.get(exc.status_code, "http_error"), str(exc.detail))
    return Response(error.body(), status_code=exc.status_code, media_type=JSON, headers=exc.headers or {})


def internal_error(exc: Exception) -> GatewayError:
    """The answer to an exception nothing expected (logged with its trace)."""
    log.exception("unhandled error", exc_info=exc)
    return GatewayError(500, "internal_error", "unexpected error; nothing was settled by this call")


def _unexpected(_request: Request, exc: Exception) -> Response:
    error = internal_error(exc)
    return Response(error.body(), status_code=500, media_type=JSON)


_ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def options_handlers(handlers: list) -> list[HTTPRouteHandler]:
    """OPTIONS for each path served by several handlers (GET and POST /admin/keys, ...): Litestar's
    automatic answer there lists only the first handler's methods in `Allow`."""
    by_path: dict[str, list[HTTPRouteHandler]] = {}
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler):
            for path in handler.paths:
                by_path.setdefault(path, []).append(handler)
    return [
        _options(path, ", ".join(sorted({"OPTIONS", *(m for h in served for m in h.http_methods)})))
        for path, served in by_path.items()
        if len(served) > 1
    ]


def _options(path: str, allow: str) -> HTTPRouteHandler:
    def answer() -> Response:
        return Response(None, status_code=204, headers={"Allow": allow}, media_type="text/plain")

    return route(path, http_method=[HttpMethod.OPTIONS], include_in_schema=False, sync_to_thread=False)(
        answer
    )


# Routes whose own check is the admin token (sent as Bearer too): never read as an API key there.
ADMIN_PREFIX = "/admin"
# Always served, never counted against the in-flight bound: probes and scrapes must see an overload.
UNBOUNDED = frozenset({"/health", "/metrics", "/facilitator/health", "/facilitator/metrics"})


async def keys_checked(request: Request) -> Response | None:
    """A key presented on any route is checked (401 when invalid or revoked, wherever it is sent);
    the handler finds it in `request.state.api_key` (None: anonymous)."""
    request.state.api_key = None
    if request.url.path.startswith(ADMIN_PREFIX) or presented_key(request.headers) is None:
        return None
    try:
        request.state.api_key = await request.app.state.access.identify(request.headers, request_ip(request))
    except GatewayError as error:
        return Response(error.body(), status_code=error.status, media_type=JSON, headers=error.headers())
    return None


def admitted(app: Callable) -> Callable:
    """ASGI middleware: every request but UNBOUNDED ones holds a place in the process-wide lane."""

    async def middleware(scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in UNBOUNDED:
            await app(scope, receive, send)
            return
        try:
            with scope["app"].state.admission.admit(ALL):
                await app(scope, receive, send)
        except GatewayError as error:
            HTTP_REQUESTS.labels("admission", str(error.status)).inc()
            headers = [(b"content-type", JSON.encode()), (b"x-content-type-options", b"nosniff")]
            headers += [(name.lower().encode(), value.encode()) for name, value in error.headers().items()]
            await send({"type": "http.response.start", "status": error.status, "headers": headers})
            await send({"type": "http.response.body", "body": error.body()})

    return middleware


def create_app(
    config: GatewayConfig,
    nc: Client | None = None,
    nats_url: str | None = None,
    credentials: Credentials | None = None,
) -> Litestar:
    """The app; it connects to NATS on start-up (as `credentials`, default: the settings') unless given
    a connection."""

    async def startup(app: Litestar) -> None:
        connection = nc or await connect(nats_url, name="x402fac-gateway", credentials=credentials)
        app.state.facilitator = Facilitator(connection, config, app.state.admission)
        app.state.access = Access(connection, config)
        if config.require_registered_payto:
            app.state.facilitator.payto_check = app.state.access.payto_registered
        await app.state.facilitator.start()
        NATS_CONNECTED.labels("gateway").set_function(lambda: float(connection.is_connected))
        app.state.owns_connection = nc is None

    async def shutdown(app: Litestar) -> None:
        await app.state.facilitator.stop()
        if getattr(app.state, "owns_connection", False):
            await disconnect(app.state.facilitator.nc)

    app = Litestar(
        route_handlers=[
            *options_handlers(OWN_HANDLERS),  # before the handlers they serve
            *HANDLERS,
            *whitelist.FACILITATOR_HANDLERS,
            *discovery.FACILITATOR_HANDLERS,
            *OWN_HANDLERS,
            Router(path="/facilitator", route_handlers=FACILITATOR_API),
        ],
        on_startup=[startup],
        on_shutdown=[shutdown],
        before_request=keys_checked,
        response_headers=[ResponseHeader(name="X-Content-Type-Options", value="nosniff")],
        middleware=[admitted],
        state=State({"config": config, "admission": Admission(config)}),
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        openapi_config=OpenAPIConfig(
            title="x402fac",
            version=VERSION,
            description="Multi-network x402 payment facilitator (Nano, EVM, Solana).",
            path="/schema",
            # Swagger UI loads its script from a CDN: on this origin only when the operator asks
            render_plugins=[
                JsonRenderPlugin(path="/"),
                *([SwaggerRenderPlugin(path="/swagger")] if config.api_docs else []),
            ],
        ),
        request_max_body_size=config.max_body_bytes,
        debug=False,
    )
    add_request_bodies(app.openapi_schema)
    add_security_schemes(app.openapi_schema)
    return app
