"""The payment routes served straight from ASGI (`direct.payment_routes`) answer exactly as the Litestar
routes they stand in front of: same status, headers and body, for answers, refusals and failures.
The facilitator and the key store are stand-ins (no NATS): what is compared is the HTTP edge."""

import asyncio
from typing import Any

import pytest

from x402fac.gateway.app import create_app
from x402fac.gateway.config import GatewayConfig
from x402fac.gateway.core import Answer
from x402fac.gateway.direct import PATHS, payment_routes
from x402fac.gateway.edge import ALL
from x402fac.gateway.errors import GatewayError
from x402fac.protocol.ledger import ApiKey

GOOD_KEY = "k" * 40


class Facilitator:
    """Answers what it is told to; records who asked."""

    def __init__(self, config: GatewayConfig, outcome: Any) -> None:
        self.config = config
        self.outcome = outcome
        self.calls: list[tuple] = []

    async def _answer(self, *call: Any) -> Answer:
        self.calls.append(call)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    async def verify(self, body: bytes, address: str, api_key_id: str = "") -> Answer:
        return await self._answer("verify", body, address, api_key_id)

    async def settle(self, body: bytes, address: str, hung_up: Any = None, api_key_id: str = "") -> Answer:
        return await self._answer("settle", body, address, api_key_id)


class Access:
    async def identify(self, headers: Any, client_ip: str) -> ApiKey | None:
        if headers.get("x-api-key") == GOOD_KEY:
            return ApiKey(id="key1", name="a key", created_at=0.0)
        raise GatewayError(
            401, "unauthorized", "the API key is invalid; omit it to use the facilitator anonymously"
        )


def _app(outcome: Any, **config: Any):
    settings = GatewayConfig(**config)
    app = create_app(settings)
    app.state.facilitator = Facilitator(settings, outcome)
    app.state.access = Access()
    return app


async def _call(asgi: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]], chunks: int = 1):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"gateway"), *headers],
        "client": ("203.0.113.7", 5555),
        "server": ("127.0.0.1", 4020),
        "state": {},
    }
    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    incoming = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # the client stays
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(asyncio.ensure_future(asgi(scope, receive, send)), 10)
    start = sent[0]
    headers_sent = sorted((k.lower(), v) for k, v in start["headers"])
    return start["status"], headers_sent, b"".join(m.get("body", b"") for m in sent[1:])


def _length(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


NOSNIFF = (b"x-content-type-options", b"nosniff")


def _sniffless(answer: tuple) -> tuple:
    status, headers, body = answer
    return status, [h for h in headers if h != NOSNIFF], body


CASES = {
    "verify answered": (Answer(b'{"isValid":true}'), {}, "/verify", b"{}", []),
    "settle answered": (Answer(b'{"success":true}'), {}, "/facilitator/v1/settle", b"{}", []),
    "refusal with retry-after": (GatewayError(429, "rate_limited", "slow down", 7), {}, "/settle", b"{}", []),
    "bad body": (GatewayError(400, "invalid_request", "not JSON"), {}, "/v1/verify", b"x", []),
    "unexpected failure": (RuntimeError("boom"), {}, "/verify", b"{}", []),
    "key required": (Answer(b"{}"), {"require_api_key": True}, "/verify", b"{}", []),
    "good key": (
        Answer(b"{}"),
        {"require_api_key": True},
        "/settle",
        b"{}",
        [(b"x-api-key", GOOD_KEY.encode())],
    ),
    "bad key": (Answer(b"{}"), {}, "/facilitator/verify", b"{}", [(b"x-api-key", b"nope")]),
    "announced body too large": (
        Answer(b"{}"),
        {"max_body_bytes": 10},
        "/verify",
        b"{" + b" " * 20 + b"}",
        [],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_direct_answer_is_the_litestar_routes(case):
    outcome, config, path, body, headers = CASES[case]
    litestar_app, direct_app = _app(outcome, **config), _app(outcome, **config)
    expected = await _call(litestar_app, path, body, _length(body) + headers)
    got = await _call(payment_routes(direct_app), path, body, _length(body) + headers)
    assert _sniffless(got) == _sniffless(expected)
    assert NOSNIFF in got[1]  # on every answer (Litestar's own 413 goes without)
    assert direct_app.state.facilitator.calls == litestar_app.state.facilitator.calls


async def test_a_body_sent_past_the_limit_without_its_length_is_refused_alike():
    body = b"{" + b" " * 40 + b"}"
    headers = [(b"content-type", b"application/json")]
    expected = await _call(_app(Answer(b"{}"), max_body_bytes=10), "/settle", body, headers, chunks=4)
    app = _app(Answer(b"{}"), max_body_bytes=10)
    got = await _call(payment_routes(app), "/settle", body, headers, chunks=4)
    assert _sniffless(got) == _sniffless(expected) and got[0] == 413
    assert app.state.facilitator.calls == []  # refused before it reached the facilitator


async def test_a_full_lane_is_refused_alike():
    answers = []
    for wrap in (lambda app: app, payment_routes):
        app = _app(Answer(b"{}"))
        app.state.admission.in_flight[ALL] = app.state.admission.bounds[ALL]
        answers.append(await _call(wrap(app), "/verify", b"{}", _length(b"{}")))
        assert app.state.facilitator.calls == []
    assert answers[0][0] == answers[1][0] == 503
    assert answers[0][2] == answers[1][2]
    assert dict(answers[0][1])[b"retry-after"] == dict(answers[1][1])[b"retry-after"] == b"1"


async def test_every_payment_route_is_served_directly_and_nothing_else():
    assert set(PATHS) == {
        f"{root}{version}/{kind}"
        for root in ("", "/facilitator")
        for version in ("", "/v1")
        for kind in ("verify", "settle")
    }
    app = _app(Answer(b'{"isValid":true}'))
    routed = {route.path for route in app.routes if "POST" in getattr(route, "methods", ())}
    assert set(PATHS) <= routed  # each stands for a documented Litestar route
    status, _, _ = await _call(payment_routes(app), "/supported", b"", [])  # a GET route: Litestar's 405
    assert status == 405
