"""The payment routes (POST /verify and /settle, also under /v1 and /facilitator) served straight from
ASGI, in front of the Litestar app, which serves every other route and method and documents these.

Payment requests are nearly all of a facilitator's traffic, and for them Litestar's per-request
machinery (connection and state objects, header parsing, the handler's signature model, response
objects, the middleware stack) cost more of the gateway's CPU than the request's own work. The
answers are the routes' own (`app._serve`): the same admission, API key check, body limit, trace
context, metrics and JSON bodies (a unit test holds the two side by side).
"""

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from litestar import Litestar
from litestar.datastructures import State

from x402fac.protocol.ledger import ApiKey
from x402fac.telemetry import HTTP_REQUESTS, server_span, tracer

from .app import JSON, internal_error, payment_answer, timed, until_disconnected
from .auth import presented_key
from .core import Answer
from .edge import ALL, client_ip
from .errors import GatewayError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
PATHS = {
    f"{root}{version}/{kind}": kind
    for root in ("", "/facilitator")
    for version in ("", "/v1")
    for kind in ("verify", "settle")
}
_tracer = tracer("x402fac.gateway")
_FIXED_HEADERS = [(b"content-type", JSON.encode()), (b"x-content-type-options", b"nosniff")]


def payment_routes(app: Litestar) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """`app`, with the payment routes served here."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        kind = PATHS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if kind is None:
            await app(scope, receive, send)
        else:
            await _serve(app.state, kind, scope, receive, send)

    return asgi


async def send_answer(send: Send, answer: Answer) -> None:
    headers = [*_FIXED_HEADERS, (b"content-length", str(len(answer.body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[dict[str, str], list[str]]:
    """The request's headers by lower-case name (the first of repeated ones, as Litestar reads them),
    and every X-Forwarded-For value."""
    found: dict[str, str] = {}
    forwarded: list[str] = []
    for name, value in raw:
        text = value.decode("latin-1")
        key = name.decode("latin-1").lower()
        found.setdefault(key, text)
        if key == "x-forwarded-for":
            forwarded.append(text)
    return found, forwarded


async def _serve(state: State, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
    headers, forwarded = _headers(scope["headers"])
    client = scope.get("client")
    address = client_ip(client[0] if client else "unknown", forwarded, state.config)
    try:
        with state.admission.admit(ALL):
            try:
                answer = await _answer(state, kind, scope["path"], headers, address, receive)
            except Exception as exc:  # answered as Litestar's handler of the unexpected does
                error = internal_error(exc)
                answer = Answer(error.body(), error.status)
            await send_answer(send, answer)
            return
    except GatewayError as error:  # the process-wide lane is full (app.admitted)
        HTTP_REQUESTS.labels("admission", str(error.status)).inc()
        await send_answer(send, Answer(error.body(), error.status, error.headers()))


async def _answer(
    state: State, kind: str, path: str, headers: dict[str, str], address: str, receive: Receive
) -> Answer:
    try:
        key = await _key(state, headers, address)
        body = await _body(receive, headers, state.config.max_body_bytes)
    except GatewayError as error:  # before the handler: not counted (app.keys_checked, Request.body)
        return Answer(error.body(), error.status, error.headers())

    async def produce() -> Answer:
        return await payment_answer(
            state.facilitator, kind, body, address, key, lambda: until_disconnected(receive)
        )

    with server_span(_tracer, f"POST {path}", headers) as span:
        answer = await timed(kind, produce)
        span.set_attribute("http.response.status_code", answer.status)
    return answer


async def _key(state: State, headers: dict[str, str], address: str) -> ApiKey | None:
    """The API key the request presents, checked (app.keys_checked); None: anonymous."""
    if presented_key(headers) is None:
        return None
    return await state.access.identify(headers, address)


async def _body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole body, refused as Litestar's request body is: 413 over `limit` (announced or sent),
    400 for an unreadable Content-Length."""
    announced = headers.get("content-length")
    if announced is not None:
        try:
            length = int(announced)
        except ValueError:
            raise GatewayError(400, "invalid_request", f"Invalid content-length: {announced!r}") from None
        if length > limit:
            raise GatewayError(413, "body_too_large", "Request Entity Too Large")
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError(500, "http_error", "client disconnected prematurely")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise GatewayError(413, "body_too_large", "Request Entity Too Large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
