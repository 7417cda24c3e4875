"""Throughput of the EVM worker against one fresh automine anvil devnet (a developer's measurement).

    PYTHONPATH=. uv run --frozen python services/worker-evm/scripts/measure_evm.py [--verifies 2000] [--settles 400]

1. scheme level, in-process (no NATS, no ledger): verify/s, settle/s (verify + prepare + broadcast +
   receipt with Transfer log check);
2. through the stack (HTTP gateway -> NATS -> worker -> ledger, all in this one process): verify/s, settle/s.
Payments are signed before timing starts; every settle is a distinct payment and must succeed.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec

from tests.fixtures.evm import free_port, funded_payer, payment_request
from tests.fixtures.stack import Stack
from x402fac.devnet.evm import EvmDevnet
from x402fac.worker_evm.config import network_from_devnet
from x402fac.worker_evm.exact import ExactEvmScheme


async def bounded(concurrency: int, jobs) -> list:
    gate = asyncio.Semaphore(concurrency)

    async def run(job):
        async with gate:
            return await job

    return await asyncio.gather(*(run(job) for job in jobs))


async def scheme_settle(scheme: ExactEvmScheme, request) -> bool:
    identity = scheme.identify(request)
    prepared = await scheme.prepare(request, await scheme.verify(request, identity))
    await scheme.broadcast(prepared)
    outcome = await scheme.confirm(
        prepared.transaction, request.payment_requirements.network, 30, prepared.context
    )
    return outcome.status == "confirmed"


async def scheme_verify(scheme: ExactEvmScheme, request) -> bool:
    await scheme.verify(request, scheme.identify(request))
    return True


def rate(label: str, count: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"{label:<40} {count:>6} in {elapsed:6.2f} s = {count / elapsed:8.1f}/s", flush=True)


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="x402fac-measure-evm-"))
    devnet = EvmDevnet("127.0.0.1", free_port(), data_dir, payers=0, signers=args.signers)
    info = await devnet.start()
    stack = None
    try:
        payers = await asyncio.gather(*(funded_payer(info, 10**12) for _ in range(args.payers)))
        pay_to = payers[0].address

        def requests(count: int) -> list:
            return [payment_request(info, payers[i % len(payers)], pay_to, 1_000) for i in range(count)]

        scheme = ExactEvmScheme([network_from_devnet(info)])
        verifies, settles = requests(args.verifies), requests(args.settles)
        started = time.perf_counter()
        assert all(await bounded(args.concurrency, (scheme_verify(scheme, r) for r in verifies)))
        rate("scheme verify (in-process)", len(verifies), started)
        started = time.perf_counter()
        assert all(await bounded(args.concurrency, (scheme_settle(scheme, r) for r in settles)))
        rate("scheme settle (in-process, mined)", len(settles), started)
        await scheme.close()

        stack = await Stack.start()
        await stack.start_worker("evm", [ExactEvmScheme([network_from_devnet(info)])])
        verify_bodies = [msgspec.json.encode(r) for r in requests(args.verifies)]
        settle_bodies = [msgspec.json.encode(r) for r in requests(args.settles)]
        headers = {"content-type": "application/json"}
        # aiohttp as load generator: httpx's connection pool costs more CPU than the stack under test.
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(stack.gateway_url, connector=connector) as http:

            async def post(path: str, body: bytes, key: str) -> bool:
                async with http.post(path, data=body, headers=headers) as answer:
                    return (await answer.json()).get(key) is True

            started = time.perf_counter()
            assert all(
                await bounded(args.concurrency, (post("/verify", b, "isValid") for b in verify_bodies))
            )
            rate("stack verify (HTTP+NATS, one process)", len(verify_bodies), started)
            started = time.perf_counter()
            assert all(
                await bounded(args.concurrency, (post("/settle", b, "success") for b in settle_bodies))
            )
            rate("stack settle (HTTP+NATS+ledger, mined)", len(settle_bodies), started)
    finally:
        if stack is not None:
            await stack.close()
        await devnet.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verifies", type=int, default=2000)
    parser.add_argument("--settles", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--payers", type=int, default=8)
    parser.add_argument("--signers", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
