"""Storage is bounded: every bucket and stream has an age and a size limit, and a stranger's forged
settles leave no claim, record or counter — at most their one audit entry each."""

import asyncio
import os
import time

import httpx

from tests.fixtures.nano import nano_offline_body
from tests.fixtures.stack import Stack
from x402fac.bus import subjects
from x402fac.ledger.config import LedgerConfig
from x402fac.ledger.service import start_ledger
from x402fac.nano import encode_address, public_key
from x402fac.worker_nano.config import load_config
from x402fac.worker_nano.service import build_schemes

STORES = ["KV_x402fac_settlements", "KV_x402fac_secondary", "KV_x402fac_pending", subjects.RATE_STREAM]
FORGERIES = 1000


def _forged_body(victim_secret: bytes) -> dict:
    """A well-formed send block naming the victim as its account, signed by a stranger."""
    return nano_offline_body(os.urandom(32), account=public_key(victim_secret))


async def _messages(js, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def test_every_store_is_bounded_and_limits_follow_the_config():
    stack = await Stack.start()
    try:
        js = stack.nc.jetstream()
        for stream in [*STORES, subjects.AUDIT_STREAM]:
            config = (await js.stream_info(stream)).config
            assert config.max_age and config.max_age > 0, stream
            assert config.max_bytes and config.max_bytes > 0, stream
        audit = (await js.stream_info(subjects.AUDIT_STREAM)).config
        assert audit.deny_delete and audit.deny_purge  # entries leave by age or size only
        # a ledger started with other limits brings the existing stores to them
        await stack.ledger.stop()
        stack.ledger = await start_ledger(
            stack.nc, LedgerConfig(record_retention_days=2, audit_retention_days=3, bucket_max_bytes=10**8)
        )
        records = (await js.stream_info("KV_x402fac_settlements")).config
        assert (records.max_age, records.max_bytes) == (2 * 86_400, 10**8)
        assert (await js.stream_info(subjects.AUDIT_STREAM)).config.max_age == 3 * 86_400
    finally:
        await stack.close()


async def test_a_thousand_forged_settles_leave_no_claims():
    stack = await Stack.start()
    try:
        # The node is never asked: forgeries are refused before anything but the signature check.
        env = {
            "X402FAC_NANO_DEVNET_RPC_URLS": "http://127.0.0.1:9",
            "X402FAC_NANO_DEVNET_WORK_THRESHOLD": "0",
        }
        await stack.start_worker("nano", build_schemes(load_config(env)))
        js = stack.nc.jetstream()
        await asyncio.sleep(0.2)
        before = {stream: await _messages(js, stream) for stream in [*STORES, subjects.AUDIT_STREAM]}
        victim_secret = os.urandom(32)
        bodies = [_forged_body(victim_secret) for _ in range(FORGERIES)]
        semaphore = asyncio.Semaphore(32)

        async def settle(http: httpx.AsyncClient, body: dict) -> str:
            async with semaphore:
                return (await http.post("/settle", json=body)).json()["errorReason"]

        first_window = int(time.time() // 60)
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
            reasons = await asyncio.gather(*(settle(http, body) for body in bodies))
        windows = int(time.time() // 60) - first_window + 1  # minute windows the run spanned
        assert set(reasons) == {"invalid_signature"}
        await asyncio.sleep(0.5)  # audit appends are fire-and-forget
        after = {stream: await _messages(js, stream) for stream in [*STORES, subjects.AUDIT_STREAM]}
        for stream in STORES[:3]:  # no claim, record or memo key
            assert after[stream] == before[stream], stream
        # the counters hold only the client IP's counter (one subject per minute window), no payer's
        assert after[subjects.RATE_STREAM] - before[subjects.RATE_STREAM] <= windows
        # at most one audit entry per refused request
        assert after[subjects.AUDIT_STREAM] - before[subjects.AUDIT_STREAM] <= FORGERIES
        assert await stack.payer_settles(encode_address(public_key(victim_secret))) == 0
    finally:
        await stack.close()
