"""Error mapping (400/429/503), unknown networks, /supported, and per-IP limits across gateways."""

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.fixtures.stack import Stack
from x402fac.children import popen

from .conftest import TEST_NETWORK, LedgerBookScheme, payment


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"x402Version": 2}',
        b'{"x402Version": 3, "paymentPayload": {}, "paymentRequirements": {}}',
        b'{"x402Version":2,"paymentPayload":{"x402Version":2,"accepted":{},"payload":{}},"paymentRequirements":{}}',
    ],
)
async def test_malformed_body_is_400_json(book_stack, body):
    stack, _ = book_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        for path in ("/verify", "/settle", "/facilitator/verify"):
            answer = await http.post(path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 400
            assert answer.json()["error"] == "invalid_request"
            assert answer.json()["status"] == 400


async def test_float_amount_is_refused(book_stack):
    stack, _ = book_stack
    body = payment("x")
    body["paymentRequirements"]["amount"] = "1.5"
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        answer = await http.post("/verify", json=body)
    assert answer.status_code == 400


async def test_unknown_network_is_unsupported(book_stack):
    stack, _ = book_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        verify = await http.post("/verify", json=payment("x", network="cosmos:hub"))
        settle = await http.post("/settle", json=payment("x", network="eip155:424242"))
    assert verify.json()["invalidReason"] == "unsupported_network"
    assert settle.json()["errorReason"] == "unsupported_network"
    assert settle.json()["transaction"] == "" and settle.json()["network"] == "eip155:424242"


async def test_requirements_binding_checked(book_stack):
    stack, _ = book_stack
    body = payment("bind")
    body["paymentPayload"]["accepted"]["amount"] = "1"
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        verify = await http.post("/verify", json=body)
    assert verify.json()["invalidReason"] == "requirements_mismatch"
    assert "amount" in verify.json()["invalidMessage"]


async def test_family_without_worker_is_503(book_stack):
    stack, _ = book_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        answer = await http.post("/verify", json=payment("x", network="nano:devnet"))
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "worker_unavailable"


async def test_worker_started_after_a_503_is_served_at_once():
    """The gateway's cached view of live workers must not turn payments away for its lifetime once
    a worker comes up."""
    stack = await Stack.start()
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
            refused = await http.post("/settle", json=payment("late-worker"))
            await stack.start_worker("evm", [LedgerBookScheme()])
            served = await http.post("/settle", json=payment("late-worker"))
    finally:
        await stack.close()
    assert refused.status_code == 503 and refused.json()["error"] == "worker_unavailable"
    assert served.status_code == 200 and served.json()["success"] is True


async def test_metadata_endpoints(book_stack):
    stack, _ = book_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        supported = (await http.get("/facilitator/supported")).json()
        index = (await http.get("/")).json()
        health = (await http.get("/health")).json()
        schema = await http.get("/schema")
        metrics = await http.get("/metrics")
        missing = await http.get("/nope")
    assert supported["kinds"] == [
        {"x402Version": 2, "scheme": "exact", "network": TEST_NETWORK, "extra": {"asset": "TEST"}}
    ]
    assert supported["signers"] == {"eip155:*": ["0xfacade"]}
    assert TEST_NETWORK in index["networks"] and index["endpoints"]["settle"] == "/settle"
    assert health["status"] == "ok" and health["workers"] == ["evm"]
    assert schema.json()["openapi"].startswith("3.")
    assert "/facilitator/settle" in schema.json()["paths"]
    assert "x402fac_http_requests_total" in metrics.text
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


async def test_ip_limit_shared_by_two_gateways():
    stack = await Stack.start(ip_limit=5)
    try:
        await stack.start_worker("evm", [LedgerBookScheme()])
        other = await stack.add_gateway(ip_limit=5)
        statuses = []
        async with httpx.AsyncClient() as http:
            for i in range(6):
                url = (stack.gateway_url if i % 2 == 0 else other.url) + "/verify"
                answer = await http.post(url, json=payment(uuid.uuid4().hex))
                statuses.append(answer.status_code)
            # settle has its own window: still allowed
            settle = await http.post(other.url + "/settle", json=payment(uuid.uuid4().hex))
        assert statuses[:5] == [200] * 5
        assert statuses[5] == 429
        assert answer.json()["error"] == "rate_limited"
        assert 1 <= int(answer.headers["retry-after"]) <= 60
        assert settle.status_code == 200
    finally:
        await stack.close()


async def test_killed_ledger_restarts_with_stored_response():
    stack = await Stack.start(ledger=False)
    env = dict(os.environ, **stack.nats.env("ledger"), X402FAC_LOG_FORMAT="text")

    def spawn_ledger() -> subprocess.Popen:
        return popen([sys.executable, "-m", "x402fac.cli", "ledger"], env=env, stderr=subprocess.PIPE)

    async def ledger_ready() -> None:
        for _ in range(200):
            try:
                await stack.nc.request("x402.ledger.lookup", b'{"payment_id":"probe"}', timeout=0.5)
                return
            except Exception:
                await asyncio.sleep(0.05)
        raise TimeoutError("ledger did not start")

    ledger = spawn_ledger()
    try:
        await ledger_ready()
        scheme = LedgerBookScheme()
        await stack.start_worker("evm", [scheme])
        body = payment(uuid.uuid4().hex)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            first = await http.post("/settle", json=body)
            ledger.kill()
            ledger.wait()
            ledger = spawn_ledger()
            await ledger_ready()
            second = await http.post("/settle", json=body)
        assert first.json()["success"] is True
        # the restarted ledger still knows the payment and that its success was handed out
        assert second.json()["errorReason"] == "duplicate_settlement"
        assert second.json()["transaction"] == first.json()["transaction"]
        assert sum(scheme.broadcasts.values()) == 1
    finally:
        ledger.kill()
        ledger.wait()
        await stack.close()


async def test_wrong_method_and_oversized_body_get_the_json_error_shape(book_stack):
    stack, _ = book_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        wrong_method = await http.get("/verify")
        oversized = await http.post("/settle", content=b"x" * 300_000)
        empty = await http.post("/verify")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method_not_allowed")
    assert (oversized.status_code, oversized.json()["error"]) == (413, "body_too_large")
    assert (empty.status_code, empty.json()["error"]) == (400, "invalid_request")
