"""SIGTERM drains include the settles in flight: a gateway and a worker stopped while a settle waits
for its confirmation answer it, however long within the caller's deadline it takes.

Before, a gateway cut its requests 15 s after SIGTERM (its settle timeout is 45 s) and a worker its
settles after 10 s; both confirmations below take longer than that.
"""

import asyncio
import uuid

import httpx

from tests.fixtures.stack import Stack, free_port
from x402fac.gateway.config import GatewayConfig
from x402fac.gateway.server import serve

from .conftest import LedgerBookScheme, payment, payment_id_of

OLD_GATEWAY_GRACE_SECONDS = 15
OLD_WORKER_GRACE_SECONDS = 10


async def _settle(url: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(url + "/settle", json=body)


async def _until_serving(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(url + "/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(url)


async def _until_broadcast(scheme: LedgerBookScheme) -> None:
    for _ in range(200):
        if scheme.broadcasts:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("no broadcast")


async def test_a_stopping_gateway_answers_its_settle_in_flight():
    stack = await Stack.start()
    try:
        scheme = LedgerBookScheme()
        await stack.start_worker("evm", [scheme], reconcile_interval=3600)
        port = free_port()
        config = GatewayConfig(host="127.0.0.1", port=port, settle_timeout=OLD_GATEWAY_GRACE_SECONDS + 15)
        stop = asyncio.Event()
        served = asyncio.create_task(serve(config, stack.nats_url, stop, stack.nats.credentials("gateway")))
        url = f"http://127.0.0.1:{port}"
        await _until_serving(url)
        await asyncio.sleep(0.6)  # the gateway sees the evm family live
        body = payment(uuid.uuid4().hex, confirm_after=OLD_GATEWAY_GRACE_SECONDS + 3, max_timeout=60)
        answer = asyncio.create_task(_settle(url, body))
        await _until_broadcast(scheme)
        stop.set()  # SIGTERM, as the CLI delivers it
        response = await answer
        assert response.status_code == 200, response.text
        assert response.json()["success"] is True, response.text
        await served  # and it exits
        async with httpx.AsyncClient() as http:  # having stopped taking connections
            try:
                await http.get(url + "/health")
                raise AssertionError("a stopped gateway still accepts connections")
            except httpx.ConnectError:
                pass
    finally:
        await stack.close()


async def test_a_stopping_worker_finishes_its_settle_in_flight():
    stack = await Stack.start()
    try:
        scheme = LedgerBookScheme()
        worker = await stack.start_worker("evm", [scheme], reconcile_interval=3600)
        gateway = await stack.add_gateway(settle_timeout=OLD_WORKER_GRACE_SECONDS + 15)
        await asyncio.sleep(0.6)
        body = payment(uuid.uuid4().hex, confirm_after=OLD_WORKER_GRACE_SECONDS + 3, max_timeout=60)
        payment_id = payment_id_of(body)
        answer = asyncio.create_task(_settle(gateway.url, body))
        await _until_broadcast(scheme)
        await stack.stop_worker(worker)  # the only replica: nobody else could finish it
        response = await answer
        assert response.status_code == 200, response.text
        assert response.json()["success"] is True, response.text
        assert scheme.broadcasts == {f"tx-{payment_id}": 1}
    finally:
        await stack.close()
