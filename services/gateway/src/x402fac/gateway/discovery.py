"""The discovery catalog over HTTP: `GET /discovery/resources` (OpenX402, x402 Bazaar), `GET
/discovery/search`, `GET /list` (OpenX402's alias), operator registration under `/admin/discovery`,
and the listing of a resource when a settle that carried the `bazaar` extension succeeds.

The `bazaar` extension is checked against the Bazaar's rules before the payment is forwarded (the
info's `input` shape, method, body type, MCP tool fields, sizes; a `schema` may not reference
anything outside itself) and the info, its output example included, against the `schema` it carries
(a documented subset of JSON Schema: bazaar_schema). Malformed info never blocks the payment: the settle answer says so in
`extensions.bazaar` (`invalid_discovery_info` and why) and nothing is listed. The ledger decides the
rest (ledger.discovery: only settled payments list, per-payTo and total caps). A listing costs a
real payment: one worth at least the asset's configured minimum (well above our gas), from a payer
other than the payTo.
"""

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec

from x402fac.bus import BusError
from x402fac.bus import request as ask
from x402fac.protocol import (
    DiscoveryItem,
    DiscoveryResponse,
    Pagination,
    PaymentRequirements,
    Reason,
    VerifyRequest,
    family_of,
)
from x402fac.protocol.ledger import (
    SUBJECT_DISCOVERY_ADD,
    SUBJECT_DISCOVERY_LIST,
    SUBJECT_DISCOVERY_REMOVE,
    CatalogEntry,
    DiscoveryAddReply,
    DiscoveryAddRequest,
    DiscoveryListReply,
    DiscoveryListRequest,
    DiscoveryRemoveRequest,
)

from .bazaar_schema import SchemaMismatch, check_against_schema
from .errors import ErrorBody, GatewayError
from .openapi import ADMIN_SECURITY, ROUTE_ERRORS, documented_operation, query

BAZAAR = "bazaar"
SELF_PAYMENT = "self_payment"
BELOW_MINIMUM = "amount_below_listing_minimum"
JSON = "application/json"
LEDGER_TIMEOUT = 5.0
MAX_BAZAAR_BYTES = 8 * 1024
MAX_URL = 2048
MAX_DESCRIPTION = 1000
MAX_QUERY = 200
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
QUERY_METHODS = frozenset({"GET", "HEAD", "DELETE"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
BODY_TYPES = frozenset({"json", "form-data", "text"})
MCP_TRANSPORTS = frozenset({"streamable-http", "sse"})
_ROUTE_TEMPLATE = re.compile(r"^/[a-zA-Z0-9_/:.\-~]+$")


class InvalidDiscovery(ValueError):
    """The `bazaar` extension or the resource it describes cannot be listed (the message says why)."""


def _external_reference(node: Any) -> bool:
    """A `$ref`/`$id` that is not a fragment of the document itself (a schema must not fetch)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$id") and not (isinstance(value, str) and value.startswith("#")):
                return True
            if _external_reference(value):
                return True
    elif isinstance(node, list):
        return any(_external_reference(item) for item in node)
    return False


def normalize_url(url: str) -> str:
    """An absolute http(s) URL without query or fragment (how the catalog names a resource)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isprintable() or " " in url:
        raise InvalidDiscovery("resource.url must be an absolute http(s) URL of at most 2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidDiscovery("resource.url must be an absolute http(s) URL")
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", "", ""))


def _check_info(info: Any) -> tuple[str, str]:
    """(type, method) of valid bazaar info; raises InvalidDiscovery."""
    if not isinstance(info, dict) or not isinstance(info.get("input"), dict):
        raise InvalidDiscovery("bazaar.info.input must be an object")
    given = info["input"]
    kind = given.get("type")
    if kind == "http":
        method = given.get("method")
        if method not in QUERY_METHODS | BODY_METHODS:
            raise InvalidDiscovery(
                f"bazaar.info.input.method must be one of {sorted(QUERY_METHODS | BODY_METHODS)}"
            )
        if method in BODY_METHODS and given.get("bodyType", "json") not in BODY_TYPES:
            raise InvalidDiscovery(f"bazaar.info.input.bodyType must be one of {sorted(BODY_TYPES)}")
        for name in ("queryParams", "pathParams", "headers"):
            if given.get(name) is not None and not isinstance(given[name], dict):
                raise InvalidDiscovery(f"bazaar.info.input.{name} must be an object")
        return "http", method
    if kind == "mcp":
        tool = given.get("toolName")
        if not isinstance(tool, str) or not 0 < len(tool) <= 128:
            raise InvalidDiscovery("bazaar.info.input.toolName must be a string of 1-128 characters")
        if not isinstance(given.get("inputSchema"), dict):
            raise InvalidDiscovery("bazaar.info.input.inputSchema must be an object")
        if given.get("transport") is not None and given["transport"] not in MCP_TRANSPORTS:
            raise InvalidDiscovery(f"bazaar.info.input.transport must be one of {sorted(MCP_TRANSPORTS)}")
        return "mcp", ""
    raise InvalidDiscovery('bazaar.info.input.type must be "http" or "mcp"')


def bazaar_extension(request: VerifyRequest) -> dict | None:
    extensions = request.payment_payload.extensions
    return extensions.get(BAZAAR) if isinstance(extensions, dict) and BAZAAR in extensions else None


def catalog_entry(request: VerifyRequest) -> CatalogEntry | None:
    """What a settle of `request` would list: None without the bazaar extension; raises
    InvalidDiscovery when it carries one that cannot be listed."""
    extension = bazaar_extension(request)
    if extension is None:
        return None
    if not isinstance(extension, dict):
        raise InvalidDiscovery("extensions.bazaar must be an object with info and schema")
    if len(msgspec.json.encode(extension)) > MAX_BAZAAR_BYTES:
        raise InvalidDiscovery(f"extensions.bazaar is larger than {MAX_BAZAAR_BYTES} bytes")
    schema = extension.get("schema")
    if schema is not None and not isinstance(schema, dict):
        raise InvalidDiscovery("bazaar.schema must be a JSON Schema object")
    if _external_reference(schema):
        raise InvalidDiscovery("bazaar.schema must not contain external $ref/$id references")
    kind, method = _check_info(extension.get("info"))
    if schema is not None:
        try:
            check_against_schema(extension["info"], schema)
        except SchemaMismatch as mismatch:
            raise InvalidDiscovery(f"bazaar.info does not match bazaar.schema: {mismatch}") from None
    resource = request.payment_payload.resource
    if resource is None:
        raise InvalidDiscovery("paymentPayload.resource.url is required to list a resource")
    url = normalize_url(resource.url)
    template = extension.get("routeTemplate")
    if template is not None:
        if not isinstance(template, str) or not _ROUTE_TEMPLATE.match(template) or ".." in template:
            raise InvalidDiscovery("bazaar.routeTemplate must be a path like /users/:id")
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc, template, "", ""))
    requirements = request.payment_requirements
    return CatalogEntry(
        resource=url,
        pay_to=requirements.pay_to,
        accepts=[requirements],
        type=kind,
        x402_version=2,
        description=(resource.description or "")[:MAX_DESCRIPTION],
        mime_type=(resource.mime_type or "")[:100],
        method=method,
        bazaar={k: extension[k] for k in ("info", "schema", "routeTemplate") if k in extension},
        settlements=1,
    )


def refused(reason: str, message: str) -> dict:
    return {"status": "refused", "reason": reason, "message": message}


def invalid_info(request: VerifyRequest) -> dict | None:
    """Why the bazaar info of `request` cannot be listed, or None (also when it carries none)."""
    try:
        catalog_entry(request)
    except InvalidDiscovery as invalid:
        return refused(Reason.INVALID_DISCOVERY_INFO, str(invalid))
    return None


def listing_minimum(requirements: PaymentRequirements, minimums: dict[str, int]) -> int:
    """The least a payment in `requirements`' asset must carry to list (GatewayConfig.discovery_minimums):
    the asset's own, else its family's."""
    asset = minimums.get(f"asset:{requirements.asset}")
    return asset if asset is not None else minimums.get(family_of(requirements.network) or "", 0)


def unlistable(request: VerifyRequest, payer: str | None, minimums: dict[str, int]) -> dict | None:
    """Why a settled payment does not earn a listing: a payTo paying itself (the settle costs it only
    our gas), or a payment worth less than the asset's minimum (one unit pays for a listing)."""
    requirements = request.payment_requirements
    if payer and payer.lower() == requirements.pay_to.lower():
        return refused(SELF_PAYMENT, "a payment from payTo to itself does not list a resource")
    minimum = listing_minimum(requirements, minimums)
    if int(requirements.amount) < minimum:
        message = f"a listing takes a payment of at least {minimum} of asset {requirements.asset}"
        return refused(BELOW_MINIMUM, message)
    return None


async def list_settled(
    nc, request: VerifyRequest, payer: str | None, minimums: dict[str, int]
) -> dict | None:
    """After a successful settle by `payer`: list the resource; what happened, for `extensions.bazaar`."""
    try:
        entry = catalog_entry(request)
    except InvalidDiscovery as invalid:
        return refused(Reason.INVALID_DISCOVERY_INFO, str(invalid))
    if entry is None:
        return None
    if (reason := unlistable(request, payer, minimums)) is not None:
        return reason
    try:
        reply = await ask(
            nc, SUBJECT_DISCOVERY_ADD, DiscoveryAddRequest(entry), DiscoveryAddReply, LEDGER_TIMEOUT
        )
    except BusError:
        return {"status": "not_listed", "message": "the catalog did not answer; the next settle lists it"}
    if reply.ok:
        return {"status": "listed", "resource": entry.resource}
    messages = {
        "catalog_full": "the catalog is full",
        "pay_to_full": "this payTo has as many resources listed as it may",
        "invalid": "the entry is too large",
    }
    return refused(reply.error or "not_listed", messages.get(reply.error, "not listed"))


def item(entry: CatalogEntry) -> DiscoveryItem:
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


# ---- HTTP ---------------------------------------------------------------------------------------


def _json(body: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type=JSON)


def _error(error: GatewayError) -> Response:
    return Response(error.body(), status_code=error.status, media_type=JSON, headers=error.headers())


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


def _filters(request: Request, query: str = "") -> DiscoveryListRequest:
    params = request.query_params
    text = {name: params.get(name, "") for name in ("type", "payTo", "network", "scheme")}
    if any(len(value) > MAX_QUERY for value in (*text.values(), query)):
        raise GatewayError(400, "invalid_request", f"filters are at most {MAX_QUERY} characters")
    return DiscoveryListRequest(
        type=text["type"],
        pay_to=text["payTo"],
        network=text["network"],
        scheme=text["scheme"],
        query=query,
        limit=_int(request, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
        offset=_int(request, "offset", 0, 0, 10_000_000),
    )


async def _list(state: State, message: DiscoveryListRequest) -> DiscoveryListReply:
    try:
        return await ask(
            state.facilitator.nc, SUBJECT_DISCOVERY_LIST, message, DiscoveryListReply, LEDGER_TIMEOUT
        )
    except BusError:
        raise GatewayError(503, "ledger_unavailable", "the catalog did not answer", retry_after=2) from None


async def _resources(request: Request, state: State) -> Response:
    try:
        message = _filters(request)
        reply = await _list(state, message)
    except GatewayError as error:
        return _error(error)
    page = Pagination(limit=message.limit, offset=message.offset, total=reply.total)
    return _json(DiscoveryResponse(items=[item(e) for e in reply.entries], pagination=page))


def _documented(text: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=text, generate_examples=False)


_BAD_QUERY = {400: _documented("`invalid_request`: a filter or paging parameter out of range")}
_LEDGER_AWAY = {503: _documented("`ledger_unavailable`: the catalog did not answer; see Retry-After")}
_ADMIN = {401: _documented("`unauthorized`: no admin token, a wrong one, or the admin API is disabled")}
LIST_RESPONSES = {
    200: ResponseSpec(DiscoveryResponse, generate_examples=False),
    **_BAD_QUERY,
    **_LEDGER_AWAY,
    **ROUTE_ERRORS,
}


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

DESCRIPTION = (
    "Resources that were paid for through this facilitator (a successful settle carrying the `bazaar` "
    "extension) or registered by its operator, oldest listing first (pages stay stable as resources are "
    "added). Filters: `type` (http|mcp), `payTo`, `network`, `scheme`; `limit` (default 100, at most 1000), "
    "`offset`."
)


@get(
    "/discovery/resources",
    summary="The discovery catalog (paginated)",
    description=DESCRIPTION,
    responses=LIST_RESPONSES,
    operation_class=documented_operation(FILTERS),
)
async def resources(request: Request, state: State) -> Response:
    return await _resources(request, state)


@get(
    "/list",
    summary="The discovery catalog (OpenX402 alias of /discovery/resources)",
    description=DESCRIPTION,
    responses=LIST_RESPONSES,
    operation_class=documented_operation(FILTERS),
)
async def list_alias(request: Request, state: State) -> Response:
    return await _resources(request, state)


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
    raw = request.query_params.get("query", "")
    try:
        if not raw.strip():
            raise GatewayError(400, "invalid_request", "query is required")
        if len(raw) > MAX_QUERY:
            raise GatewayError(400, "invalid_request", f"query is at most {MAX_QUERY} characters")
        message = _filters(request, raw.strip())
        reply = await _list(state, message)
    except GatewayError as error:
        return _error(error)
    shown = len(reply.entries)
    return _json(
        {
            "x402Version": 2,
            "resources": [msgspec.to_builtins(item(e)) for e in reply.entries],
            "partialResults": message.offset + shown < reply.total,
            "pagination": {"limit": message.limit, "offset": message.offset, "total": reply.total},
        }
    )


# ---- operators (X402FAC_ADMIN_TOKEN) -----------------------------------------------------------


async def _admin(request: Request, state: State, produce) -> Response:
    try:
        state.access.require_admin(request.headers)
        return await produce()
    except GatewayError as error:
        return _error(error)


class _Registration(msgspec.Struct, rename="camel"):
    resource: str
    accepts: list[Any]
    type: str = "http"
    description: str = ""
    mime_type: str = ""
    method: str = ""


@post(
    "/admin/discovery",
    summary="List a resource in the discovery catalog (admin)",
    description="Body: `{resource, accepts: [PaymentRequirements], type?, description?, mimeType?, method?}`; "
    "one entry per payTo of `accepts`. Operator entries are not counted against the per-payTo cap.",
    status_code=201,
    responses={**_BAD_QUERY, **_ADMIN, **_LEDGER_AWAY, **ROUTE_ERRORS},
    security=ADMIN_SECURITY,
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
        try:
            body = msgspec.json.decode(await request.body() or b"{}", type=_Registration)
            accepts = [msgspec.convert(a, PaymentRequirements) for a in body.accepts]
            url = normalize_url(body.resource)
        except (msgspec.MsgspecError, InvalidDiscovery) as exc:
            raise GatewayError(400, "invalid_request", f"not a resource registration: {exc}") from None
        if not accepts or body.type not in ("http", "mcp"):
            raise GatewayError(400, "invalid_request", 'accepts must not be empty; type is "http" or "mcp"')
        listed = []
        for pay_to in dict.fromkeys(a.pay_to for a in accepts):
            entry = CatalogEntry(
                resource=url,
                pay_to=pay_to,
                accepts=[a for a in accepts if a.pay_to == pay_to],
                type=body.type,
                description=body.description[:MAX_DESCRIPTION],
                mime_type=body.mime_type[:100],
                method=body.method[:10],
                origin="operator",
            )
            try:
                reply = await ask(
                    state.facilitator.nc,
                    SUBJECT_DISCOVERY_ADD,
                    DiscoveryAddRequest(entry),
                    DiscoveryAddReply,
                    LEDGER_TIMEOUT,
                )
            except BusError:
                raise GatewayError(
                    503, "ledger_unavailable", "the catalog did not answer", retry_after=2
                ) from None
            if not reply.ok or reply.entry is None:
                raise GatewayError(400, "invalid_request", f"not listed: {reply.error}")
            listed.append(msgspec.to_builtins(item(reply.entry)))
        return _json({"items": listed}, 201)

    return await _admin(request, state, produce)


@delete(
    "/admin/discovery",
    summary="Remove a resource from the discovery catalog (admin)",
    description="`resource` (the URL as listed) and optionally `payTo` (else every receiver of it).",
    status_code=200,
    responses={
        **_BAD_QUERY,
        **_ADMIN,
        **_LEDGER_AWAY,
        404: _documented("`not_found`: not listed"),
        **ROUTE_ERRORS,
    },
    security=ADMIN_SECURITY,
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
        message = DiscoveryRemoveRequest(resource=resource, pay_to=request.query_params.get("payTo", ""))
        try:
            reply = await ask(
                state.facilitator.nc, SUBJECT_DISCOVERY_REMOVE, message, DiscoveryAddReply, LEDGER_TIMEOUT
            )
        except BusError:
            raise GatewayError(
                503, "ledger_unavailable", "the catalog did not answer", retry_after=2
            ) from None
        if not reply.ok:
            raise GatewayError(404, "not_found", f"{resource!r} is not listed")
        return _json({"removed": resource})

    return await _admin(request, state, produce)


# Served at the root and under /facilitator (the discovery API is part of the facilitator API).
FACILITATOR_HANDLERS = [resources, search, list_alias]
HANDLERS = [admin_add, admin_remove]
