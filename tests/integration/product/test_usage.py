"""Per-key usage through two gateways and two ledger replicas: every count exact, once."""

import asyncio
import time
import uuid

import httpx
import msgspec

from tests.fixtures.product import ADMIN_TOKEN
from tests.integration.foundation.conftest import TEST_NETWORK, payment
from x402fac.bus import request, subjects
from x402fac.ledger.config import LedgerConfig
from x402fac.ledger.service import start_ledger
from x402fac.protocol.ledger import AuditEvent, UsageReply, UsageRequest
from x402fac.worker.audit import FLUSH_AFTER_SECONDS

from .test_keys import ADMIN, create_key


async def _drained(stack) -> None:
    """Until the ledgers have acknowledged every audit entry (bounded), once the workers have
    published the verify outcomes they gather."""
    await asyncio.sleep(2 * FLUSH_AFTER_SECONDS)
    js = stack.nc.jetstream()
    for _ in range(200):
        info = await js.consumer_info(subjects.AUDIT_STREAM, subjects.USAGE_CONSUMER)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("usage consumer did not drain")


async def test_usage_is_exact_through_two_gateways_and_two_ledgers(product_stack):
    stack, _ = product_stack
    config = LedgerConfig(payer_settle_limit=1_000_000, admin_token=ADMIN_TOKEN)
    second_ledger = await start_ledger(stack.nc, config)
    try:
        async with (
            httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as one,
            httpx.AsyncClient(base_url=stack.gateways[0].url, timeout=30) as two,
        ):
            created = await create_key(one, "usage")
            key = {"x-api-key": created["secret"]}
            payer = f"payer-{uuid.uuid4().hex[:8]}"
            valid = [payment(uuid.uuid4().hex, payer=payer) for _ in range(6)]
            invalid = [payment(uuid.uuid4().hex, payer=payer, valid=False) for _ in range(3)]
            calls = []
            for i, body in enumerate(valid + invalid):
                calls.append((one if i % 2 else two).post("/verify", json=body, headers=key))
            for i, body in enumerate(valid[:4]):
                calls.append((one if i % 2 else two).post("/settle", json=body, headers=key))
            calls.append(two.post("/settle", json=invalid[0], headers=key))
            calls.append(one.post("/verify", json=valid[5]))  # anonymous: not this key's
            answers = await asyncio.gather(*calls)
            assert all(a.status_code == 200 for a in answers)
            again = await one.post("/settle", json=valid[0], headers=key)  # a copy: duplicate_settlement
            assert again.json()["errorReason"] == "duplicate_settlement"
            await _drained(stack)
            usage = (await two.get("/dashboard/api/usage", headers=key)).json()
            recent = (await one.get("/dashboard/api/settlements", headers=key)).json()["settlements"]
            everyone = (await one.get("/admin/usage?granularity=d&periods=2", headers=ADMIN)).json()
    finally:
        await second_ledger.stop()
    assert usage["totals"]["verify"] == 9
    assert usage["totals"]["settle"] == 6 and usage["totals"]["settled"] == 4
    assert usage["errors"] == {"invalid_signature": 4, "duplicate_settlement": 1}
    assert usage["amounts"] == {TEST_NETWORK: {"TEST": "4000"}}
    assert usage["networks"][TEST_NETWORK]["verify:valid"] == 6
    assert sorted(s["outcome"] for s in recent) == [
        "duplicate_settlement",
        "invalid_signature",
        *["settled"] * 4,
    ]
    assert everyone["keys"][created["key"]["id"]] == {"verify": 9, "settle": 6}
    assert everyone["keys"]["_anon"]["verify"] >= 1


async def test_usage_needs_a_key(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        anonymous = await http.get("/dashboard/api/usage")
        forged = await http.get("/dashboard/api/usage", headers={"x-api-key": "x402n_" + "B" * 43})
        admin_only = await http.get("/admin/usage", headers={"x-api-key": "x402n_" + "B" * 43})
    assert anonymous.status_code == forged.status_code == admin_only.status_code == 401


async def test_a_day_is_the_sum_of_its_hours(product_stack):
    """Entries are counted per hour only; asking for days adds a day's hours up."""
    stack, _ = product_stack
    key = uuid.uuid4().hex[:16]
    now = time.time()
    day_start = now - now % 86_400
    hours = [day_start + 5, day_start + 5, now - 1]  # the day's first hour twice, and the current one
    worker = stack.workers[0].nc  # the evm worker's bus user: who appends evm audit entries
    for at in hours:
        event = AuditEvent("verify", "evm", TEST_NETWORK, "valid", at=at, api_key_id=key)
        await worker.jetstream().publish(subjects.audit("verify", "evm"), msgspec.json.encode(event))
    await _drained(stack)
    hourly = await request(stack.nc, subjects.LEDGER_USAGE, UsageRequest(key, "h", 24), UsageReply, 5)
    daily = await request(stack.nc, subjects.LEDGER_USAGE, UsageRequest(key, "d", 1), UsageReply, 5)
    by_hour = {row.period: int(row.value) for row in hourly.rows if row.kind == "verify"}
    assert sum(by_hour.values()) == 3 and int(day_start // 3600) in by_hour
    assert [(row.period, row.kind, row.label, row.value) for row in daily.rows] == [
        (int(day_start // 86_400), "verify", "valid", "3")
    ]


async def test_a_burst_of_verifies_is_a_few_audit_entries_counted_exactly(product_stack):
    """Verify outcomes travel many to an audit entry (a stream write per verify cost more than the
    verify); every one of them is still counted once."""
    stack, _ = product_stack
    js = stack.nc.jetstream()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        created = await create_key(http, "burst")
        key = {"x-api-key": created["secret"]}
        await _drained(stack)
        entries_before = (await js.stream_info(subjects.AUDIT_STREAM)).state.messages
        bodies = [payment(uuid.uuid4().hex) for _ in range(120)]
        answers = await asyncio.gather(*(http.post("/verify", json=body, headers=key) for body in bodies))
        assert all(answer.json()["isValid"] for answer in answers)
        await _drained(stack)
        entries = (await js.stream_info(subjects.AUDIT_STREAM)).state.messages - entries_before
        usage = (await http.get("/dashboard/api/usage", headers=key)).json()
    assert usage["totals"]["verify"] == 120
    assert 1 <= entries <= 20, entries


async def test_counters_from_before_settles_were_packed_add_up_with_packed_ones(product_stack):
    """A settle used to be three counters (count, amount, milliseconds): an hour holding those and
    packed ones reports the sums of both, row by row, as before."""
    stack, _ = product_stack
    key = uuid.uuid4().hex[:16]
    now = time.time()
    base = f"{subjects.USAGE_PREFIX}.{key}.h.{int(now // 3600)}"
    earlier = {"settle.n.settled": 2, "amount.n.A": 30, "settle_ms.n.all": 40, "settle.n.dropped": 1}
    for figure, amount in earlier.items():
        await stack.nc.jetstream().publish(f"{base}.{figure}", b"", headers={"Nats-Incr": f"+{amount}"})
    worker = stack.workers[0].nc
    for outcome, ms in (("settled", 2), ("settled", 3), ("fee_too_high", 4)):
        event = AuditEvent(
            "settle", "evm", "n", outcome, at=now, api_key_id=key, asset="A", amount="5", elapsed_ms=ms
        )
        await worker.jetstream().publish(subjects.audit("settle", "evm"), msgspec.json.encode(event))
    await _drained(stack)
    hourly = await request(stack.nc, subjects.LEDGER_USAGE, UsageRequest(key, "h", 1), UsageReply, 5)
    assert sorted((row.kind, row.network, row.label, row.value) for row in hourly.rows) == [
        ("amount", "n", "A", "40"),
        ("settle", "n", "dropped", "1"),
        ("settle", "n", "fee_too_high", "1"),
        ("settle", "n", "settled", "4"),
        ("settle_ms", "n", "all", "49"),
    ]
