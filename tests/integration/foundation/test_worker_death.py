"""A settle outlives the worker that took it: another replica gets the request again from the work
queue, resumes the payment from the ledger and answers the same caller, with one broadcast."""

import asyncio
import time
import uuid

import httpx

from tests.fixtures.stack import Stack
from x402fac.bus import connect
from x402fac.worker import WorkerService

from .conftest import LedgerBookScheme, payment


async def _replica(stack: Stack, scheme: LedgerBookScheme) -> WorkerService:
    nc = await connect(stack.nats_url, name="test-replica")
    service = WorkerService(nc, "evm", [scheme], settle_ack_wait=1.0)
    await service.start(reconcile_interval=3600)
    return service


async def _kill(service: WorkerService) -> None:
    """As SIGKILL would: nothing it was doing goes on, nothing is acknowledged or released."""
    for task in list(service.settle_work._inflight):
        task.cancel()
    await service.nc.close()


async def test_settle_finished_by_another_replica_after_a_kill():
    stack = await Stack.start()
    first, second = LedgerBookScheme(), LedgerBookScheme()
    second.broadcasts, second.broadcast_at = first.broadcasts, first.broadcast_at  # one chain
    doomed = await _replica(stack, first)
    survivor = None
    try:
        await asyncio.sleep(0.6)  # the gateway sees the evm family live
        body = payment(uuid.uuid4().hex, confirm_after=3)
        tx = f"tx-test/{body['paymentPayload']['payload']['id']}"
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
            started = time.monotonic()
            answer = asyncio.ensure_future(http.post("/settle", json=body))
            for _ in range(200):  # the doomed replica broadcast and now waits for confirmation
                if first.broadcasts[tx]:
                    break
                await asyncio.sleep(0.02)
            assert first.broadcasts[tx] == 1
            survivor = await _replica(stack, second)
            await _kill(doomed)
            result = (await answer).json()
            elapsed = time.monotonic() - started
        assert result["success"] is True and result["transaction"] == tx
        assert elapsed < 10  # the caller got its final answer, not a timeout
        assert first.broadcasts[tx] == 1  # resumed from the ledger, never broadcast again
        record = await stack.ledger_record(f"test/{body['paymentPayload']['payload']['id']}")
        assert record is not None and record.state == "settled" and record.delivered_at > 0
    finally:
        if survivor is not None:
            await survivor.stop()
            await survivor.nc.drain()
        await stack.close()
