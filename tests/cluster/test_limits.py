"""Per-IP (200/min) and per-payer (10/min) limits hold across both gateways and both ledgers:
the counters live in JetStream (R3), so the replicas share them. Each test runs inside one fixed
minute window of the counters (it waits for the next one when too little of the current is left)."""

import asyncio
import time

import pytest

from x402fac.bus import counters

from .checks import check_chain_and_ledger, outcomes
from .load import client_ip

IP_LIMIT = 200
PAYER_LIMIT = 10
TOLERANCE = 0.05


async def _fresh_window(needed: float) -> None:
    _, left = counters.current_window(60)
    if left < needed:
        await asyncio.sleep(left + 0.5)


def _within(count: int, limit: int) -> bool:
    return limit * (1 - TOLERANCE) <= count <= limit * (1 + TOLERANCE)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("endpoint", ["verify", "settle"])
async def test_ip_limit_across_gateways(endpoint, cluster, client):
    """300 requests from one client IP, alternating gateways: 200 served, the rest 429 + Retry-After."""
    body = (
        b'{"x402Version":2,"paymentPayload":{"x402Version":2,"accepted":{"scheme":"exact","network":'
        b'"nowhere:1","asset":"A","amount":"1","payTo":"B","maxTimeoutSeconds":30,"extra":{}},'
        b'"payload":{}},"paymentRequirements":{"scheme":"exact","network":"nowhere:1","asset":"A",'
        b'"amount":"1","payTo":"B","maxTimeoutSeconds":30,"extra":{}}}'
    )
    ip = client_ip()
    await _fresh_window(needed=30)
    gate = asyncio.Semaphore(20)

    async def send(index: int):
        async with gate:
            return await client.post(f"/{endpoint}", body, index % 2, ip=ip)

    answers = await asyncio.gather(*(send(i) for i in range(300)))
    served = [a for a in answers if a.status_code == 200]
    limited = [a for a in answers if a.status_code == 429]
    print(f"\n{endpoint} from one IP over 2 gateways: {len(served)} served, {len(limited)} limited")
    assert len(served) + len(limited) == 300
    reason = "errorReason" if endpoint == "settle" else "invalidReason"
    assert all(a.json()[reason] == "unsupported_network" for a in served)
    assert all(a.headers.get("retry-after") for a in limited)
    assert _within(len(served), IP_LIMIT), len(served)
    assert {a.request.url.port for a in served} == {int(u.rsplit(":", 1)[1]) for u in cluster.gateway_urls}


@pytest.mark.timeout(300)
async def test_payer_limit_across_gateways_and_ledgers(cluster, payments, client, ledger, results):
    """15 distinct valid settles from one payer, alternating gateways: 10 settle, 5 are rate_limited
    (nothing sent for them: the chain holds 10 transfers from that payer)."""
    payer = payments.evm.reserved  # no other test pays from it: its count starts at 0
    pays = [await payments.evm.make(payer=payer) for _ in range(15)]
    await _fresh_window(needed=40)
    started = time.monotonic()
    attempts = await asyncio.gather(*(client.settle(pay, i % 2) for i, pay in enumerate(pays)))
    counted = outcomes(attempts)
    results["payer_limit"] = {"answers": counted, "seconds": round(time.monotonic() - started, 1)}
    print(f"\n15 settles from one payer: {counted}")
    assert _within(counted.get("success", 0), PAYER_LIMIT), counted
    assert counted == {"success": PAYER_LIMIT, "rate_limited": 15 - PAYER_LIMIT}
    await check_chain_and_ledger(list(attempts), payments, ledger)
    transfers = await payments.evm.transfers(pays)
    assert sum(len(found) for found in transfers.values()) == PAYER_LIMIT
