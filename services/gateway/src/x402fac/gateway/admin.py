"""The admin API over API keys and usage, behind the admin token (`X402FAC_ADMIN_TOKEN`, sent as
`x-admin-token` or Bearer): `GET|POST /admin/keys`, `POST /admin/keys/{id}/revoke`, `GET /admin/usage`.
The whitelist's admin routes are in `whitelist`, the discovery catalog's in `discovery`."""

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from x402fac.bus import subjects
from x402fac.protocol import ledger as wire

from . import views
from .errors import GatewayError
from .openapi import ADMIN, BAD_BODY, NOT_FOUND, USAGE_PARAMETERS, documented_operation
from .replies import admin_route, as_admin, ask_ledger, json_response, usage_query


async def list_keys(state: State) -> dict:
    reply = await ask_ledger(state, subjects.LEDGER_KEY_LIST, wire.KeyListRequest(), wire.KeyListReply)
    return {"keys": [views.public_key(key) for key in reply.keys]}


async def create_key(state: State, request: Request) -> Response:
    """A key named and rated as the body says, for the admin token presented (the ledger checks it too)."""
    try:
        given = msgspec.json.decode(await request.body() or b"{}")
        name, rate = str(given.get("name", "")), int(given.get("ratePerMinute", 0))
    except (msgspec.DecodeError, AttributeError, ValueError, TypeError):
        raise GatewayError(400, "invalid_request", 'body: {"name": str, "ratePerMinute": int}') from None
    token = state.access.presented_admin_token(request.headers)
    message = wire.KeyCreateRequest(name=name, rate_per_minute=rate, origin="admin", admin_token=token)
    reply = await ask_ledger(state, subjects.LEDGER_KEY_CREATE, message, wire.KeyCreateReply)
    return json_response(views.created_key(reply), 201)


async def revoke_key(state: State, key_id: str) -> dict:
    reply = await ask_ledger(state, subjects.LEDGER_KEY_REVOKE, wire.KeyIdRequest(key_id), wire.KeyReply)
    if not reply.ok or reply.key is None:
        raise GatewayError(404, "not_found", f"no API key {key_id!r}")
    return {"key": views.public_key(reply.key)}


KEY_BODY = documented_operation(
    body={
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "ratePerMinute": {"type": "integer", "minimum": 0}},
    },
    description="`{name, ratePerMinute}` (0: no limit)",
)


@admin_route(get, "/admin/keys", "Every API key (admin)", ADMIN)
async def admin_keys(request: Request, state: State) -> Response:
    return await as_admin(request, state, lambda: list_keys(state))


@admin_route(post, "/admin/keys", "Create an API key (admin; shown once)", ADMIN, creates=KEY_BODY)
async def admin_create_key(request: Request, state: State) -> Response:
    return await as_admin(request, state, lambda: create_key(state, request))


@admin_route(post, "/admin/keys/{key_id:str}/revoke", "Revoke an API key (admin)", {**ADMIN, **NOT_FOUND})
async def admin_revoke_key(key_id: FromPath[str], request: Request, state: State) -> Response:
    return await as_admin(request, state, lambda: revoke_key(state, key_id))


@admin_route(
    get,
    "/admin/usage",
    "Usage of every key (admin)",
    {**ADMIN, **BAD_BODY},
    operation_class=documented_operation(USAGE_PARAMETERS),
)
async def admin_usage(request: Request, state: State) -> Response:
    return await as_admin(request, state, lambda: views.usage(state, "*", *usage_query(request, "d", 30)))


HANDLERS = [admin_keys, admin_create_key, admin_revoke_key, admin_usage]
