"""The discovery catalog over HTTP: `GET /discovery/resources` (OpenX402, x402 Bazaar), `GET
/discovery/search`, `GET /list` (OpenX402's alias) and operator registration under `/admin/discovery`.
What a settle lists is decided in `bazaar` (the extension) and `listing` (after the settle).
"""

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec

from x402fac.protocol import DiscoveryItem, DiscoveryResponse, Pagination, PaymentRequirements
from x402fac.protocol import ledger as wire

from .bazaar import BAZAAR, MAX_DESCRIPTION, InvalidDiscovery, normalize_url
from .errors import GatewayError
from .openapi import ROUTE_ERRORS, documented_operation, error_spec, query
from .replies import admin_route, as_admin, ask_ledger, error_response, json_response

MAX_QUERY = 200
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CATALOG = "the catalog"


def item(entry: wire.CatalogEntry) -> DiscoveryItem:
    metadata: dict[str, Any] = {"origin": entry.origin, "settlements": entry.settlements}
    if entry.method:
        metadata["method"] = entry.method
    when = datetime.fromtimestamp(entry.updated_at, UTC).isoformat(timespec="milliseconds")
    return DiscoveryItem(
        resource=entry.resource,
        accepts=entry.accepts,
        type=entry.type,
        x402_version=entry.x402_version,
        metadata=metadata,
        last_updated=when.replace("+00:00", "Z"),
        description=entry.description or None,
        mime_type=entry.mime_type or None,
        extensions={BAZAAR: entry.bazaar} if entry.bazaar else None,
    )


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()):  # what the documented integer allows: no sign, space or _
        raise GatewayError(400, "invalid_request", f"{name} must be an integer")
    value = int(raw)
    if not low <= value <= high:
        raise GatewayError(400, "invalid_request", f"{name} must be between {low} and {high}")
    return value


def _filters(request: Request, query: str = "") -> wire.DiscoveryListRequest:
    params = request.query_params
    text = {name: params.get(name, "") for name in ("type", "payTo", "network", "scheme")}
    if any(len(value) > MAX_QUERY for value in (*text.values(), query)):
        raise GatewayError(400, "invalid_request", f"filters are at most {MAX_QUERY} characters")
    return wire.DiscoveryListRequest(
        type=text["type"],
        pay_to=text["payTo"],
        network=text["network"],
        scheme=text["scheme"],
        query=query,
        limit=_int(request, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
        offset=_int(request, "offset", 0, 0, 10_000_000),
    )


async def _resources(request: Request, state: State) -> Response:
    try:
        message = _filters(request)
        reply = await ask_ledger(
            state, wire.SUBJECT_DISCOVERY_LIST, message, wire.DiscoveryListReply, CATALOG
        )
    except GatewayError as error:
        return error_response(error)
    page = Pagination(limit=message.limit, offset=message.offset, total=reply.total)
    return json_response(DiscoveryResponse(items=[item(e) for e in reply.entries], pagination=page))


_BAD_QUERY = {400: error_spec("`invalid_request`: a filter or paging parameter out of range")}
_LEDGER_AWAY = {503: error_spec("`ledger_unavailable`: the catalog did not answer; see Retry-After")}
_ADMIN = {401: error_spec("`unauthorized`: no admin token, a wrong one, or the admin API is disabled")}
_TEXT = {"type": "string", "maxLength": MAX_QUERY}
FILTERS = [
    query("type", _TEXT, "`http` or `mcp` (anything else matches nothing)"),
    query("payTo", _TEXT, "the receiver"),
    query("network", _TEXT, "a CAIP-2 network in the resource's accepts"),
    query("scheme", _TEXT, "a scheme in the resource's accepts"),
    query("limit", {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT}, "page size (default 100)"),
    query("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000}, "first item (default 0)"),
]
SEARCH_QUERY = query(
    "query",
    {"type": "string", "minLength": 1, "maxLength": MAX_QUERY, "pattern": r"\S"},
    "words that must all occur (case-insensitive)",
    required=True,
)
# What /discovery/resources and its alias /list declare besides their path and summary.
LISTING = {
    "description": "Resources that were paid for through this facilitator (a successful settle carrying "
    "the `bazaar` extension) or registered by its operator, oldest listing first (pages stay stable as "
    "resources are added). Filters: `type` (http|mcp), `payTo`, `network`, `scheme`; `limit` (default "
    "100, at most 1000), `offset`.",
    "responses": {
        200: ResponseSpec(DiscoveryResponse, generate_examples=False),
        **_BAD_QUERY,
        **_LEDGER_AWAY,
        **ROUTE_ERRORS,
    },
    "operation_class": documented_operation(FILTERS),
}


@get("/discovery/resources", summary="The discovery catalog (paginated)", **LISTING)
async def resources(request: Request, state: State) -> Response:
    return await _resources(request, state)


@get("/list", summary="The discovery catalog (OpenX402 alias of /discovery/resources)", **LISTING)
async def list_alias(request: Request, state: State) -> Response:
    return await _resources(request, state)


def _search_text(request: Request) -> str:
    raw = request.query_params.get("query", "")
    if not raw.strip():
        raise GatewayError(400, "invalid_request", "query is required")
    if len(raw) > MAX_QUERY:
        raise GatewayError(400, "invalid_request", f"query is at most {MAX_QUERY} characters")
    return raw.strip()


@get(
    "/discovery/search",
    summary="Search the discovery catalog",
    description="`query`: words that must all occur in the resource URL, description, method or bazaar "
    "info (case-insensitive); the filters and paging of /discovery/resources. Answer: "
    "`{x402Version, resources, partialResults, pagination: {limit, offset, total}}`.",
    responses={**_BAD_QUERY, **_LEDGER_AWAY, **ROUTE_ERRORS},
    operation_class=documented_operation([SEARCH_QUERY, *FILTERS]),
)
async def search(request: Request, state: State) -> Response:
    try:
        message = _filters(request, _search_text(request))
        reply = await ask_ledger(
            state, wire.SUBJECT_DISCOVERY_LIST, message, wire.DiscoveryListReply, CATALOG
        )
    except GatewayError as error:
        return error_response(error)
    shown = len(reply.entries)
    return json_response(
        {
            "x402Version": 2,
            "resources": [msgspec.to_builtins(item(e)) for e in reply.entries],
            "partialResults": message.offset + shown < reply.total,
            "pagination": {"limit": message.limit, "offset": message.offset, "total": reply.total},
        }
    )


# ---- operators (X402FAC_ADMIN_TOKEN) -----------------------------------------------------------


class _Registration(msgspec.Struct, rename="camel"):
    resource: str
    accepts: list[Any]
    type: str = "http"
    description: str = ""
    mime_type: str = ""
    method: str = ""


def operator_entries(body: bytes) -> list[wire.CatalogEntry]:
    """The catalog entries an operator's registration makes: one per payTo of its accepts."""
    try:
        given = msgspec.json.decode(body or b"{}", type=_Registration)
        accepts = [msgspec.convert(a, PaymentRequirements) for a in given.accepts]
        url = normalize_url(given.resource)
    except (msgspec.MsgspecError, InvalidDiscovery) as exc:
        raise GatewayError(400, "invalid_request", f"not a resource registration: {exc}") from None
    if not accepts or given.type not in ("http", "mcp"):
        raise GatewayError(400, "invalid_request", 'accepts must not be empty; type is "http" or "mcp"')
    return [
        wire.CatalogEntry(
            resource=url,
            pay_to=pay_to,
            accepts=[a for a in accepts if a.pay_to == pay_to],
            type=given.type,
            description=given.description[:MAX_DESCRIPTION],
            mime_type=given.mime_type[:100],
            method=given.method[:10],
            origin="operator",
        )
        for pay_to in dict.fromkeys(a.pay_to for a in accepts)
    ]


@admin_route(
    post,
    "/admin/discovery",
    "List a resource in the discovery catalog (admin)",
    {**_BAD_QUERY, **_ADMIN, **_LEDGER_AWAY, **ROUTE_ERRORS},
    description="Body: `{resource, accepts: [PaymentRequirements], type?, description?, mimeType?, method?}`; "
    "one entry per payTo of `accepts`. Operator entries are not counted against the per-payTo cap.",
    status_code=201,
    operation_class=documented_operation(
        body={
            "type": "object",
            "required": ["resource", "accepts"],
            "properties": {
                "resource": {"type": "string", "description": "absolute http(s) URL"},
                "accepts": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/PaymentRequirements"},
                },
                "type": {"enum": ["http", "mcp"]},
                "description": {"type": "string"},
                "mimeType": {"type": "string"},
                "method": {"type": "string"},
            },
        },
        description="`{resource, accepts: [PaymentRequirements], type?, description?, mimeType?, method?}`",
    ),
)
async def admin_add(request: Request, state: State) -> Response:
    async def produce() -> Response:
        listed = []
        for entry in operator_entries(await request.body()):
            message = wire.DiscoveryAddRequest(entry)
            reply = await ask_ledger(
                state, wire.SUBJECT_DISCOVERY_ADD, message, wire.DiscoveryAddReply, CATALOG
            )
            if not reply.ok or reply.entry is None:
                raise GatewayError(400, "invalid_request", f"not listed: {reply.error}")
            listed.append(msgspec.to_builtins(item(reply.entry)))
        return json_response({"items": listed}, 201)

    return await as_admin(request, state, produce)


@admin_route(
    delete,
    "/admin/discovery",
    "Remove a resource from the discovery catalog (admin)",
    {**_BAD_QUERY, **_ADMIN, **_LEDGER_AWAY, 404: error_spec("`not_found`: not listed"), **ROUTE_ERRORS},
    description="`resource` (the URL as listed) and optionally `payTo` (else every receiver of it).",
    operation_class=documented_operation(
        [
            query("resource", {"type": "string", "minLength": 1}, "the URL as listed", required=True),
            query("payTo", {"type": "string"}, "only this receiver's entry (default: every receiver)"),
        ]
    ),
)
async def admin_remove(request: Request, state: State) -> Response:
    async def produce() -> Response:
        resource = request.query_params.get("resource", "")
        if not resource:
            raise GatewayError(400, "invalid_request", "resource is required")
        message = wire.DiscoveryRemoveRequest(resource=resource, pay_to=request.query_params.get("payTo", ""))
        reply = await ask_ledger(
            state, wire.SUBJECT_DISCOVERY_REMOVE, message, wire.DiscoveryAddReply, CATALOG
        )
        if not reply.ok:
            raise GatewayError(404, "not_found", f"{resource!r} is not listed")
        return json_response({"removed": resource})

    return await as_admin(request, state, produce)


# Served at the root and under /facilitator (the discovery API is part of the facilitator API).
FACILITATOR_HANDLERS = [resources, search, list_alias]
HANDLERS = [admin_add, admin_remove]
