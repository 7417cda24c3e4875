"""Admission at the gateway: settles waiting on a chain fill only their family's lane; over it a
settle is answered 503 + Retry-After at once, while verify, /supported and /health are served; the
process-wide bound spares /health; the counts are metrics."""

import asyncio
import uuid

import httpx

from tests.fixtures.product import start_configured_gateway
from tests.integration.foundation.conftest import payment


async def _hold_settles(http: httpx.AsyncClient, lane: str, count: int, seconds: float) -> list[asyncio.Task]:
    """`count` settles the chain confirms only after `seconds`, once all are in flight in `lane`."""
    held = [
        asyncio.create_task(http.post("/settle", json=payment(uuid.uuid4().hex, confirm_after=seconds)))
        for _ in range(count)
    ]
    await _wait_in_flight(http, lane, count)
    return held


async def _wait_in_flight(http: httpx.AsyncClient, lane: str, count: int) -> None:
    line = f'x402fac_gateway_in_flight{{lane="{lane}"}} {float(count)}'
    for _ in range(200):
        if line in (await http.get("/metrics")).text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{lane} never reached {count} in flight")


async def test_settles_fill_their_lane_and_verify_is_still_served(product_stack):
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, settle_in_flight=3)
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            held = await _hold_settles(http, "settle:evm", 3, seconds=4)
            over = await http.post("/settle", json=payment(uuid.uuid4().hex))
            answered_while_held = not any(task.done() for task in held)
            verify = await http.post("/verify", json=payment(uuid.uuid4().hex))
            supported = await http.get("/supported")
            health = await http.get("/health")
            metrics = (await http.get("/metrics")).text
            settled = await asyncio.gather(*held)
    finally:
        await gateway.stop()
    assert (over.status_code, over.json()["error"], over.headers["Retry-After"]) == (503, "overloaded", "1")
    assert answered_while_held  # refused at once, not queued behind the held settles
    assert verify.status_code == 200 and verify.json()["isValid"] is True
    assert supported.status_code == health.status_code == 200
    assert 'x402fac_gateway_rejected_total{lane="settle:evm"}' in metrics
    assert all(answer.json()["success"] for answer in settled)


async def test_the_process_bound_refuses_every_route_but_health(product_stack):
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, max_in_flight=2)
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            held = await _hold_settles(http, "all", 2, seconds=3)
            supported = await http.get("/supported")
            verify = await http.post("/verify", json=payment(uuid.uuid4().hex))
            health = await http.get("/health")
            await asyncio.gather(*held)
            after = await http.get("/supported")
    finally:
        await gateway.stop()
    assert supported.status_code == verify.status_code == 503
    assert supported.json()["error"] == "overloaded" and supported.headers["Retry-After"] == "1"
    assert health.status_code == 200 and after.status_code == 200
