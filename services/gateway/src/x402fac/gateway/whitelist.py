"""The whitelist of payment receivers: the public lookup `GET /whitelist/{address}` (also part of the
facilitator API) and, behind the admin token, `GET|POST /admin/whitelist` and
`DELETE /admin/whitelist/{address}`. The ledger keeps the entries."""

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from x402fac.bus import subjects
from x402fac.protocol.ledger import WhitelistListReply, WhitelistReply, WhitelistRequest

from .errors import GatewayError
from .openapi import ADMIN, NOT_FOUND, PUBLIC, documented_operation
from .replies import admin_route, as_admin, ask_ledger, error_response, json_response


async def lookup(state: State, address: str) -> dict:
    reply = await state.access.registration(address)
    entry = reply.entry if reply.ok else None
    return {"whitelisted": entry is not None, "address": address, "networks": entry.networks if entry else []}


async def entries(state: State) -> dict:
    message = WhitelistRequest(address="")
    reply = await ask_ledger(state, subjects.LEDGER_WHITELIST_LIST, message, WhitelistListReply)
    return {"entries": msgspec.to_builtins(reply.entries)}


async def register(state: State, request: Request) -> Response:
    try:
        given = msgspec.json.decode(await request.body() or b"{}")
        message = WhitelistRequest(
            address=str(given["address"]),
            networks=[str(n) for n in given.get("networks", ["*"])],
            note=str(given.get("note", "")),
        )
    except (msgspec.DecodeError, KeyError, AttributeError, TypeError):
        raise GatewayError(400, "invalid_request", 'body: {"address": str, "networks": [str]}') from None
    reply = await ask_ledger(state, subjects.LEDGER_WHITELIST_ADD, message, WhitelistReply)
    if not reply.ok:
        raise GatewayError(400, "invalid_request", "not a valid address")
    return json_response(msgspec.to_builtins(reply.entry), 201)


async def unregister(state: State, address: str) -> dict:
    message = WhitelistRequest(address=address)
    reply = await ask_ledger(state, subjects.LEDGER_WHITELIST_REMOVE, message, WhitelistReply)
    if not reply.ok:
        raise GatewayError(404, "not_found", f"{address!r} is not registered")
    return {"removed": address}


@get(
    "/whitelist/{address:str}",
    summary="Whether an address is a registered payment receiver",
    responses=PUBLIC,
)
async def whitelist(address: FromPath[str], state: State) -> Response:
    try:
        return json_response(await lookup(state, address))
    except GatewayError as error:
        return error_response(error)


ENTRY_BODY = documented_operation(
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
)


@admin_route(post, "/admin/whitelist", "Register a payment receiver (admin)", ADMIN, creates=ENTRY_BODY)
async def admin_register(request: Request, state: State) -> Response:
    return await as_admin(request, state, lambda: register(state, request))


@admin_route(get, "/admin/whitelist", "Registered payment receivers (admin)", ADMIN)
async def admin_whitelist(request: Request, state: State) -> Response:
    return await as_admin(request, state, lambda: entries(state))


@admin_route(
    delete, "/admin/whitelist/{address:str}", "Unregister a payment receiver (admin)", {**ADMIN, **NOT_FOUND}
)
async def admin_unregister(address: FromPath[str], request: Request, state: State) -> Response:
    return await as_admin(request, state, lambda: unregister(state, address))


# Served under /facilitator too (the lookup is part of the facilitator API).
FACILITATOR_HANDLERS = [whitelist]
HANDLERS = [admin_register, admin_whitelist, admin_unregister]
