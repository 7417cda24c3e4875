"""The dashboard: one static page (HTML, CSS, plain JS: no build step, nothing from a CDN) and the
JSON it reads, in the gateway's one error shape:

- public: `GET /dashboard/api/status` (workers alive per network, RPC health, settle success rate
  and latency in the current and previous hour), `POST /dashboard/api/keys` (self-service key,
  shown once, a few per IP and hour);
- with an API key (`x-api-key` or Bearer): `GET /dashboard/api/me|usage|settlements`.

The admin API is in `admin`, the whitelist in `whitelist`.
"""

from pathlib import Path

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.static_files import create_static_files_router

from x402fac.bus import subjects
from x402fac.protocol.ledger import KeyCreateReply, KeyCreateRequest

from . import views
from .edge import cross_site_refused, request_ip
from .errors import GatewayError
from .openapi import (
    API_KEY_SECURITY,
    BAD_BODY,
    PUBLIC,
    ROUTE_ERRORS,
    USAGE_PARAMETERS,
    WITH_KEY,
    documented_operation,
    error_spec,
)
from .replies import as_key_holder, ask_ledger, error_response, json_response, usage_query

STATIC = Path(__file__).parent / "static"
# The page runs only its own script and style files (no inline script, nothing from elsewhere), talks
# only to this origin and is never framed: an API key typed into it stays with this origin.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@get("/dashboard", include_in_schema=False)
async def dashboard_page() -> Response:
    page = (STATIC / "index.html").read_bytes()
    return Response(page, media_type=MediaType.HTML, headers={"Cache-Control": "no-cache", **PAGE_HEADERS})


@get("/favicon.ico", include_in_schema=False, status_code=204)
async def favicon() -> None:
    """No icon: browsers ask for one on every page, and a 404 is a console error."""


@get(
    "/dashboard/api/status",
    summary="Public status: workers, RPC health, settle success and latency",
    responses=ROUTE_ERRORS,
)
async def status(state: State) -> Response:
    facilitator = state.facilitator
    supported = await facilitator.supported.get()
    connected = facilitator.nc.is_connected
    replicas = await facilitator.replicas.get() if connected else {}
    try:
        usage = await views.usage(state, "*", "h", 2)
    except GatewayError:
        usage = None
    live = facilitator.supported.live_families
    return json_response(views.status_body(supported, replicas, live, connected, usage))


@post(
    "/dashboard/api/keys",
    summary="Create an API key (self-service; shown once)",
    status_code=201,
    responses={
        **BAD_BODY,
        403: error_spec(
            "`forbidden`: self-service keys are disabled here, or the request came from another site"
        ),
        415: error_spec("`unsupported_media_type`: the body must be sent as application/json"),
        429: error_spec("`rate_limited`: too many keys from this address, or no more keys; see Retry-After"),
        **PUBLIC,
    },
    operation_class=documented_operation(
        body={
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "printable, not blank, at most 64 characters"}
            },
        },
        description="`{name}`: what the key is for",
    ),
)
async def create_key(request: Request, state: State) -> Response:
    try:
        cross_site_refused(request, state.facilitator.config.public_url)
        try:
            body = msgspec.json.decode(await request.body() or b"{}")
            name = str(body.get("name", "")).strip() if isinstance(body, dict) else ""
        except msgspec.DecodeError:
            raise GatewayError(400, "invalid_request", 'body must be JSON {"name": ...}') from None
        message = KeyCreateRequest(name=name, origin="self-service", client_ip=request_ip(request))
        reply = await ask_ledger(state, subjects.LEDGER_KEY_CREATE, message, KeyCreateReply)
        return json_response(views.created_key(reply), 201)
    except GatewayError as error:
        return error_response(error)


@get("/dashboard/api/me", summary="The API key signed in", responses=WITH_KEY, security=API_KEY_SECURITY)
async def me(request: Request) -> Response:
    return await as_key_holder(request, views.public_key)


@get(
    "/dashboard/api/usage",
    summary="Usage of the signed-in key (granularity h|d, periods)",
    responses={**WITH_KEY, **BAD_BODY},
    security=API_KEY_SECURITY,
    operation_class=documented_operation(USAGE_PARAMETERS),
)
async def usage(request: Request, state: State) -> Response:
    return await as_key_holder(
        request, lambda key: views.usage(state, key.id, *usage_query(request, "h", 48))
    )


@get(
    "/dashboard/api/settlements",
    summary="Latest settle outcomes of the signed-in key",
    responses=WITH_KEY,
    security=API_KEY_SECURITY,
)
async def settlements(request: Request, state: State) -> Response:
    return await as_key_holder(request, lambda key: views.settlements(state, key.id))


STATIC_ROUTER = create_static_files_router(
    path="/dashboard/static", directories=[STATIC], include_in_schema=False, send_as_attachment=False
)
HANDLERS = [dashboard_page, favicon, status, create_key, me, usage, settlements, STATIC_ROUTER]
