"""What the dashboard, admin, whitelist and discovery handlers share: JSON answers in the one error
shape, a request to the ledger over the bus, and the admin-token guard."""

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.datastructures import State

from x402fac.bus import BusError
from x402fac.bus import request as ask

from .errors import GatewayError
from .openapi import ADMIN_SECURITY, BAD_BODY

JSON = "application/json"
LEDGER_TIMEOUT = 5.0


def json_response(body: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type=JSON)


def error_response(error: GatewayError) -> Response:
    return Response(error.body(), status_code=error.status, media_type=JSON, headers=error.headers())


async def ask_ledger(
    state: State, subject: str, message: Any, reply_type: type, who: str = "the ledger"
) -> Any:
    """The ledger's reply to `message`; GatewayError 503 when `who` does not answer."""
    try:
        return await ask(state.facilitator.nc, subject, message, reply_type, LEDGER_TIMEOUT)
    except BusError:
        raise GatewayError(503, "ledger_unavailable", f"{who} did not answer", retry_after=2) from None


def query_int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        raise GatewayError(400, "invalid_request", f"{name} must be an integer") from None


def usage_query(request: Request, granularity: str, periods: int) -> tuple[str, int]:
    """(granularity "h" or "d", periods) asked in the query, with these defaults."""
    asked = "d" if request.query_params.get("granularity", granularity) == "d" else "h"
    return asked, query_int(request, "periods", periods)


def admin_route(
    method: Callable, path: str, summary: str, responses: dict, creates: type | None = None, **options: Any
) -> Callable:
    """The route decorator (`get`, `post`, ...) of a handler behind the admin token; `creates`: the
    documented body (a `documented_operation`) of a route that creates something: 201, 400 on a bad body."""
    if creates is not None:
        options.update(status_code=201, operation_class=creates)
        responses = {**responses, **BAD_BODY}
    options.setdefault("status_code", 200)
    return method(path, summary=summary, responses=responses, security=ADMIN_SECURITY, **options)


async def as_admin(request: Request, state: State, produce: Callable[[], Awaitable[Any]]) -> Response:
    """`produce()` once the admin token is checked: a Response as it is, anything else as JSON."""
    try:
        state.access.require_admin(request.headers)
        result = await produce()
    except GatewayError as error:
        return error_response(error)
    return result if isinstance(result, Response) else json_response(result)


async def as_key_holder(request: Request, produce: Callable[[Any], Any]) -> Response:
    """`produce(key)` (a value or an awaitable) as JSON for the API key signed in (checked before the
    handler: app.keys_checked); 401 when none is."""
    key = request.state.api_key
    try:
        if key is None:
            raise GatewayError(401, "unauthorized", "sign in with an API key (x-api-key or Bearer)")
        result = produce(key)
        return json_response(await result if inspect.isawaitable(result) else result)
    except GatewayError as error:
        return error_response(error)
