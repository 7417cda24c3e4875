"""The dashboard, its JSON API, the admin API and the public whitelist lookup.

`/dashboard` is one static page (HTML, CSS, plain JS: no build step, nothing from a CDN). What it
shows comes from JSON endpoints answering in the gateway's one error shape:

- public: `GET /dashboard/api/status` (workers alive per network, RPC health, settle success rate
  and latency in the current and previous hour), `POST /dashboard/api/keys` (self-service key,
  shown once, a few per IP and hour), `GET /whitelist/{address}`;
- with an API key (`x-api-key` or Bearer): `GET /dashboard/api/me|usage|settlements`;
- with the admin token: `GET|POST /admin/keys`, `POST /admin/keys/{id}/revoke`,
  `GET|POST /admin/whitelist`, `DELETE /admin/whitelist/{address}`, `GET /admin/usage`.
"""

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
from litestar import MediaType, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import FromPath
from litestar.static_files import create_static_files_router

from x402fac.bus import BusError, subjects
from x402fac.bus import request as ask
from x402fac.protocol import FAMILIES, family_of
from x402fac.protocol.ledger import (
    ApiKey,
    KeyCreateReply,
    KeyCreateRequest,
    KeyIdRequest,
    KeyListReply,
    KeyListRequest,
    KeyReply,
    RecentReply,
    RecentRequest,
    UsageReply,
    UsageRequest,
    WhitelistListReply,
    WhitelistReply,
    WhitelistRequest,
)

from .auth import Access
from .edge import cross_site_refused, request_ip
from .errors import ErrorBody, GatewayError
from .openapi import (
    ADMIN_SECURITY,
    API_KEY_SECURITY,
    LEDGER_AWAY,
    ROUTE_ERRORS,
    UNAUTHORIZED,
    documented_operation,
    query,
)

STATIC = Path(__file__).parent / "static"
# The page runs only its own script and style files (no inline script, nothing from elsewhere), talks
# only to this origin and is never framed: an API key typed into it stays with this origin.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
JSON = "application/json"
LEDGER_TIMEOUT = 5.0
ANONYMOUS = "_anon"

# Block explorers by network (a devnet has none: its transactions are shown without a link).
EXPLORERS = {
    "eip155:1": "https://etherscan.io/tx/{}",
    "eip155:8453": "https://basescan.org/tx/{}",
    "eip155:84532": "https://sepolia.basescan.org/tx/{}",
    "eip155:43114": "https://snowtrace.io/tx/{}",
    "eip155:43113": "https://testnet.snowtrace.io/tx/{}",
    "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp": "https://solscan.io/tx/{}",
    "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1": "https://solscan.io/tx/{}?cluster=devnet",
    "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z": "https://solscan.io/tx/{}?cluster=testnet",
    "nano:mainnet": "https://nanexplorer.com/nano/block/{}",
    "nano:beta": "https://nanexplorer.com/nano-beta/block/{}",
}


def _answer(text: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=text, generate_examples=False)


# What the routes answer besides their success (the OpenAPI document; one JSON error shape).
PUBLIC = {**LEDGER_AWAY, **ROUTE_ERRORS}
WITH_KEY = {
    **UNAUTHORIZED,
    429: _answer("`rate_limited`: the key's own limit, or too many invalid keys from this address"),
    **PUBLIC,
}
ADMIN = {**UNAUTHORIZED, **PUBLIC}
BAD_BODY = {400: _answer("`invalid_request`: the body is not what the route takes")}
NOT_FOUND = {404: _answer("`not_found`: no such key or address")}
USAGE_PARAMETERS = [
    query("granularity", {"enum": ["h", "d"]}, "hours or days"),
    query("periods", {"type": "integer"}, "how many, up to now (held to 1..400)"),
]


def explorer_link(network: str, transaction: str) -> str:
    pattern = EXPLORERS.get(network)
    return pattern.format(transaction) if pattern and transaction else ""


def _access(state: State) -> Access:
    return state.access


def _json(body: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type=JSON)


def _error(error: GatewayError) -> Response:
    return Response(error.body(), status_code=error.status, media_type=JSON, headers=error.headers())


async def _ledger(state: State, subject: str, message: Any, reply_type: type) -> Any:
    try:
        return await ask(state.facilitator.nc, subject, message, reply_type, LEDGER_TIMEOUT)
    except BusError:
        raise GatewayError(503, "ledger_unavailable", "the ledger did not answer", retry_after=2) from None


def _signed_in(request: Request) -> ApiKey:
    key = request.state.api_key  # checked before the handler (app.keys_checked)
    if key is None:
        raise GatewayError(401, "unauthorized", "sign in with an API key (x-api-key or Bearer)")
    return key


def _public_key(key: ApiKey) -> dict:
    """A key as lists show it: never its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "createdAt": key.created_at,
        "origin": key.origin,
        "ratePerMinute": key.rate_per_minute,
        "revokedAt": key.revoked_at or None,
    }


def summarize(reply: UsageReply, periods: list[int]) -> dict:
    """Usage rows as the dashboard draws them: series per period, errors, amounts, per key totals."""
    index = {period: i for i, period in enumerate(periods)}
    series: dict[str, list[int]] = {
        name: [0] * len(periods) for name in ("verify", "settle", "settled", "failed")
    }
    errors: dict[str, int] = defaultdict(int)
    networks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    amounts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    keys: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latency_ms = 0
    for row in reply.rows:
        value = int(row.value)
        slot = index.get(row.period)
        if row.kind == "amount":
            amounts[row.network][row.label] += value
            continue
        if row.kind == "settle_ms":
            latency_ms += value
            continue
        if row.kind not in ("verify", "settle"):
            continue
        keys[row.key_id][row.kind] += value
        networks[row.network][f"{row.kind}:{row.label}"] += value
        if slot is not None:
            series[row.kind][slot] += value
        ok = row.label in ("valid", "settled")
        if row.kind == "settle" and slot is not None:
            series["settled" if ok else "failed"][slot] += value
        if not ok:
            errors[row.label] += value
    settles = sum(series["settle"])
    return {
        "periods": periods,
        "series": series,
        "totals": {name: sum(values) for name, values in series.items()},
        "errors": dict(sorted(errors.items(), key=lambda item: -item[1])),
        "networks": {network: dict(counts) for network, counts in networks.items()},
        "amounts": {
            network: {asset: str(v) for asset, v in assets.items()} for network, assets in amounts.items()
        },
        "keys": {key: dict(counts) for key, counts in keys.items()},
        "settleLatencyMs": round(latency_ms / settles) if settles else None,
    }


async def _usage(state: State, key_id: str, granularity: str, periods: int) -> dict:
    seconds = 3600 if granularity == "h" else 86_400
    periods = max(1, min(periods, 400))
    latest = int(time.time() // seconds)
    reply = await _ledger(
        state, subjects.LEDGER_USAGE, UsageRequest(key_id, granularity, periods), UsageReply
    )
    summary = summarize(reply, list(range(latest - periods + 1, latest + 1)))
    summary["granularity"] = granularity
    summary["periodSeconds"] = seconds
    return summary


def _query_int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        raise GatewayError(400, "invalid_request", f"{name} must be an integer") from None


# ---- pages and public endpoints ----------------------------------------------------------------


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
    replicas = await facilitator.replicas.get() if facilitator.nc.is_connected else {}
    served: dict[str, set[str]] = defaultdict(set)
    for kind in supported.kinds:
        if kind.x402_version == 2:
            served[family_of(kind.network) or "?"].add(kind.network)
    try:
        usage = await _usage(state, "*", "h", 2)
    except GatewayError:
        usage = None
    networks = []
    for family in FAMILIES:
        alive = replicas.get(family, [])
        for network in sorted(served.get(family, set())):
            counts = (usage or {}).get("networks", {}).get(network, {})
            settled = counts.get("settle:settled", 0)
            settles = sum(v for k, v in counts.items() if k.startswith("settle:"))
            networks.append(
                {
                    "network": network,
                    "family": family,
                    "workers": len(alive),
                    "settling": sum(1 for r in alive if r.get("settles")),
                    "rpcErrors": counts.get("verify:node_unavailable", 0)
                    + counts.get("settle:node_unavailable", 0),
                    "settles": settles,
                    "settleSuccessRate": round(settled / settles, 4) if settles else None,
                }
            )
        if not served.get(family):
            networks.append({"family": family, "network": None, "workers": 0, "settling": 0})
    body = {
        "status": "ok" if facilitator.nc.is_connected else "degraded",
        "nats": "connected" if facilitator.nc.is_connected else "disconnected",
        "ledger": "ok" if usage is not None else "unavailable",
        "families": {family: family in facilitator.supported.live_families for family in FAMILIES},
        "networks": networks,
        "lastHour": None
        if usage is None
        else {
            "settles": usage["totals"]["settle"],
            "settled": usage["totals"]["settled"],
            "successRate": round(usage["totals"]["settled"] / usage["totals"]["settle"], 4)
            if usage["totals"]["settle"]
            else None,
            "settleLatencyMs": usage["settleLatencyMs"],
        },
        "at": time.time(),
    }
    return _json(body)


@post(
    "/dashboard/api/keys",
    summary="Create an API key (self-service; shown once)",
    status_code=201,
    responses={
        **BAD_BODY,
        403: _answer(
            "`forbidden`: self-service keys are disabled here, or the request came from another site"
        ),
        415: _answer("`unsupported_media_type`: the body must be sent as application/json"),
        429: _answer("`rate_limited`: too many keys from this address, or no more keys; see Retry-After"),
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
    except GatewayError as error:
        return _error(error)
    try:
        body = msgspec.json.decode(await request.body() or b"{}")
        name = str(body.get("name", "")).strip() if isinstance(body, dict) else ""
    except msgspec.DecodeError:
        return _error(GatewayError(400, "invalid_request", 'body must be JSON {"name": ...}'))
    message = KeyCreateRequest(name=name, origin="self-service", client_ip=request_ip(request))
    try:
        reply = await _ledger(state, subjects.LEDGER_KEY_CREATE, message, KeyCreateReply)
    except GatewayError as error:
        return _error(error)
    return _created(reply)


def _created(reply: KeyCreateReply) -> Response:
    if reply.ok and reply.key is not None:
        return _json({"key": _public_key(reply.key), "secret": reply.secret}, 201)
    if reply.error in ("rate_limited", "too_many_keys"):
        message = (
            "too many keys created from this address; try later"
            if reply.error == "rate_limited"
            else ("no more keys can be created now")
        )
        return _error(GatewayError(429, "rate_limited", message, reply.retry_after or 3600))
    if reply.error == "disabled":
        return _error(GatewayError(403, "forbidden", "self-service keys are disabled here"))
    return _error(GatewayError(400, "invalid_request", f"cannot create the key: {reply.error}"))


@get(
    "/whitelist/{address:str}",
    summary="Whether an address is a registered payment receiver",
    responses=PUBLIC,
)
async def whitelist(address: FromPath[str], state: State) -> Response:
    try:
        reply = await _access(state).registration(address)
    except GatewayError as error:
        return _error(error)
    entry = reply.entry if reply.ok else None
    return _json(
        {"whitelisted": entry is not None, "address": address, "networks": entry.networks if entry else []}
    )


# ---- signed in with an API key ------------------------------------------------------------------


async def _with_key(request: Request, state: State, produce) -> Response:
    try:
        key = _signed_in(request)
        return _json(await produce(key))
    except GatewayError as error:
        return _error(error)


@get("/dashboard/api/me", summary="The API key signed in", responses=WITH_KEY, security=API_KEY_SECURITY)
async def me(request: Request, state: State) -> Response:
    async def produce(key: ApiKey) -> dict:
        return _public_key(key)

    return await _with_key(request, state, produce)


@get(
    "/dashboard/api/usage",
    summary="Usage of the signed-in key (granularity h|d, periods)",
    responses={**WITH_KEY, **BAD_BODY},
    security=API_KEY_SECURITY,
    operation_class=documented_operation(USAGE_PARAMETERS),
)
async def usage(request: Request, state: State) -> Response:
    async def produce(key: ApiKey) -> dict:
        granularity = "d" if request.query_params.get("granularity") == "d" else "h"
        return await _usage(state, key.id, granularity, _query_int(request, "periods", 48))

    return await _with_key(request, state, produce)


@get(
    "/dashboard/api/settlements",
    summary="Latest settle outcomes of the signed-in key",
    responses=WITH_KEY,
    security=API_KEY_SECURITY,
)
async def settlements(request: Request, state: State) -> Response:
    async def produce(key: ApiKey) -> dict:
        reply = await _ledger(state, subjects.LEDGER_RECENT, RecentRequest(key.id, 50), RecentReply)
        return {
            "settlements": [
                {
                    "at": event.at,
                    "network": event.network,
                    "outcome": event.outcome,
                    "transaction": event.transaction,
                    "payer": event.payer,
                    "asset": event.asset,
                    "amount": event.amount,
                    "explorer": explorer_link(event.network, event.transaction),
                }
                for event in reply.events
            ]
        }

    return await _with_key(request, state, produce)


# ---- admin (X402FAC_ADMIN_TOKEN) ---------------------------------------------------------------


async def _admin(request: Request, state: State, produce) -> Response:
    try:
        _access(state).require_admin(request.headers)
        result = await produce()
    except GatewayError as error:
        return _error(error)
    return result if isinstance(result, Response) else _json(result)


@get("/admin/keys", summary="Every API key (admin)", responses=ADMIN, security=ADMIN_SECURITY)
async def admin_keys(request: Request, state: State) -> Response:
    async def produce() -> dict:
        reply = await _ledger(state, subjects.LEDGER_KEY_LIST, KeyListRequest(), KeyListReply)
        return {"keys": [_public_key(key) for key in reply.keys]}

    return await _admin(request, state, produce)


@post(
    "/admin/keys",
    summary="Create an API key (admin; shown once)",
    status_code=201,
    responses={**ADMIN, **BAD_BODY},
    security=ADMIN_SECURITY,
    operation_class=documented_operation(
        body={
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "ratePerMinute": {"type": "integer", "minimum": 0}},
        },
        description="`{name, ratePerMinute}` (0: no limit)",
    ),
)
async def admin_create_key(request: Request, state: State) -> Response:
    async def produce() -> Response:
        try:
            body = msgspec.json.decode(await request.body() or b"{}")
            name, rate = str(body.get("name", "")), int(body.get("ratePerMinute", 0))
        except (msgspec.DecodeError, AttributeError, ValueError, TypeError):
            raise GatewayError(400, "invalid_request", 'body: {"name": str, "ratePerMinute": int}') from None
        token = _access(state).presented_admin_token(request.headers)  # the ledger checks it too
        message = KeyCreateRequest(name=name, rate_per_minute=rate, origin="admin", admin_token=token)
        return _created(await _ledger(state, subjects.LEDGER_KEY_CREATE, message, KeyCreateReply))

    return await _admin(request, state, produce)


@post(
    "/admin/keys/{key_id:str}/revoke",
    summary="Revoke an API key (admin)",
    status_code=200,
    responses={**ADMIN, **NOT_FOUND},
    security=ADMIN_SECURITY,
)
async def admin_revoke_key(key_id: FromPath[str], request: Request, state: State) -> Response:
    async def produce() -> dict:
        reply = await _ledger(state, subjects.LEDGER_KEY_REVOKE, KeyIdRequest(key_id), KeyReply)
        if not reply.ok or reply.key is None:
            raise GatewayError(404, "not_found", f"no API key {key_id!r}")
        return {"key": _public_key(reply.key)}

    return await _admin(request, state, produce)


@get(
    "/admin/usage",
    summary="Usage of every key (admin)",
    responses={**ADMIN, **BAD_BODY},
    security=ADMIN_SECURITY,
    operation_class=documented_operation(USAGE_PARAMETERS),
)
async def admin_usage(request: Request, state: State) -> Response:
    async def produce() -> dict:
        granularity = "d" if request.query_params.get("granularity", "d") == "d" else "h"
        return await _usage(state, "*", granularity, _query_int(request, "periods", 30))

    return await _admin(request, state, produce)


@get(
    "/admin/whitelist",
    summary="Registered payment receivers (admin)",
    responses=ADMIN,
    security=ADMIN_SECURITY,
)
async def admin_whitelist(request: Request, state: State) -> Response:
    async def produce() -> dict:
        reply = await _ledger(
            state, subjects.LEDGER_WHITELIST_LIST, WhitelistRequest(address=""), WhitelistListReply
        )
        return {"entries": msgspec.to_builtins(reply.entries)}

    return await _admin(request, state, produce)


@post(
    "/admin/whitelist",
    summary="Register a payment receiver (admin)",
    status_code=201,
    responses={**ADMIN, **BAD_BODY},
    security=ADMIN_SECURITY,
    operation_class=documented_operation(
        body={
            "type": "object",
            "required": ["address"],
            "properties": {
                "address": {"type": "string"},
                "networks": {"type": "array", "items": {"type": "string"}, "default": ["*"]},
                "note": {"type": "string"},
            },
        },
        description='`{address, networks, note}` (networks `["*"]`: every network)',
    ),
)
async def admin_register(request: Request, state: State) -> Response:
    async def produce() -> Response:
        try:
            body = msgspec.json.decode(await request.body() or b"{}")
            message = WhitelistRequest(
                address=str(body["address"]),
                networks=[str(n) for n in body.get("networks", ["*"])],
                note=str(body.get("note", "")),
            )
        except (msgspec.DecodeError, KeyError, AttributeError, TypeError):
            raise GatewayError(400, "invalid_request", 'body: {"address": str, "networks": [str]}') from None
        reply = await _ledger(state, subjects.LEDGER_WHITELIST_ADD, message, WhitelistReply)
        if not reply.ok:
            raise GatewayError(400, "invalid_request", "not a valid address")
        return _json(msgspec.to_builtins(reply.entry), 201)

    return await _admin(request, state, produce)


@delete(
    "/admin/whitelist/{address:str}",
    summary="Unregister a payment receiver (admin)",
    status_code=200,
    responses={**ADMIN, **NOT_FOUND},
    security=ADMIN_SECURITY,
)
async def admin_unregister(address: FromPath[str], request: Request, state: State) -> Response:
    async def produce() -> dict:
        reply = await _ledger(
            state, subjects.LEDGER_WHITELIST_REMOVE, WhitelistRequest(address=address), WhitelistReply
        )
        if not reply.ok:
            raise GatewayError(404, "not_found", f"{address!r} is not registered")
        return {"removed": address}

    return await _admin(request, state, produce)


STATIC_ROUTER = create_static_files_router(
    path="/dashboard/static", directories=[STATIC], include_in_schema=False, send_as_attachment=False
)
# Routes also served under /facilitator (the whitelist lookup is part of the facilitator API).
FACILITATOR_HANDLERS = [whitelist]
HANDLERS = [
    dashboard_page,
    favicon,
    status,
    create_key,
    me,
    usage,
    settlements,
    admin_keys,
    admin_create_key,
    admin_revoke_key,
    admin_usage,
    admin_whitelist,
    admin_register,
    admin_unregister,
    STATIC_ROUTER,
]
