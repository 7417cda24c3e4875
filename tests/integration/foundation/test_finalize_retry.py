"""A ledger away for a moment after the broadcast (a NATS node restarting: its streams elect a new
leader) no longer turns a confirmed payment into settlement_pending: the worker tries the final write
again within the caller's deadline (found by the cluster's rolling restart, tests/cluster)."""

import asyncio
import uuid

import httpx

from tests.fixtures.stack import Stack
from x402fac.ledger.config import LedgerConfig
from x402fac.ledger.service import start_ledger

from .conftest import LedgerBookScheme, payment, payment_id_of


class LedgerBlipScheme(LedgerBookScheme):
    """The ledger stops right after the broadcast and is back `away` seconds later."""

    def __init__(self, stack: Stack, away: float) -> None:
        super().__init__()
        self.stack = stack
        self.away = away
        self._back: asyncio.Task | None = None

    async def broadcast(self, prepared) -> None:
        await super().broadcast(prepared)
        await self.stack.ledger.stop()
        self._back = asyncio.create_task(self._restart())

    async def _restart(self) -> None:
        await asyncio.sleep(self.away)
        self.stack.ledger = await start_ledger(self.stack.nc, LedgerConfig(payer_settle_limit=1_000_000))


async def test_confirmed_payment_is_a_success_when_the_ledger_is_back_before_the_deadline(own_stack):
    stack = own_stack
    scheme = LedgerBlipScheme(stack, away=2.0)
    await stack.start_worker("evm", [scheme], reconcile_interval=3600)
    gateway = await stack.add_gateway(settle_timeout=15)
    body = payment(uuid.uuid4().hex)
    payment_id = payment_id_of(body)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(gateway.url + "/settle", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True, answer.text
    record = await stack.ledger_record(payment_id)
    assert record is not None and record.state == "settled" and record.delivered_at > 0
    assert scheme.broadcasts[f"tx-{payment_id}"] == 1
