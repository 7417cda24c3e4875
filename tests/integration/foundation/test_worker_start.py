"""A worker whose settle consumer cannot be opened at start (JetStream slow to answer: a NATS node
restarting under load) starts all the same, verifies, and takes settle work once it can.

Before, the JetStream timeout ended the process at start (exit 1): a replica restarted during a
rolling restart could fail to come back.
"""

import asyncio
import uuid

import httpx
import nats.errors

from tests.fixtures.stack import Stack
from x402fac.bus import WorkConsumer

from .conftest import LedgerBookScheme, payment


async def test_worker_starts_when_its_settle_consumer_times_out_and_settles_later(monkeypatch):
    real_start = WorkConsumer.start
    refused: list[str] = []

    async def slow_jetstream_once(self) -> None:
        if not refused:
            refused.append(self.name)
            raise nats.errors.TimeoutError  # consumer info unanswered in time
        await real_start(self)

    monkeypatch.setattr(WorkConsumer, "start", slow_jetstream_once)
    stack = await Stack.start()
    try:
        scheme = LedgerBookScheme()
        worker = await stack.start_worker("evm", [scheme], reconcile_interval=3600)
        assert refused == ["x402fac-evm.settle"]
        assert worker.settling is False  # verify only, for now
        for _ in range(100):  # the settle gate tries again every second
            if worker.settling:
                break
            await asyncio.sleep(0.1)
        assert worker.settling
        await asyncio.sleep(0.6)  # the gateway's view of settling replicas
        body = payment(uuid.uuid4().hex)
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(stack.gateway_url + "/settle", json=body)
        assert answer.status_code == 200 and answer.json()["success"] is True, answer.text
    finally:
        await stack.close()
