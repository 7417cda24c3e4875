"""Verify latency through the gateway, idle and under a flood of settles waiting on the chain.

`python -m bench.admission [--settles 600] [--verifies 300] [--block-time 1]`: a fresh anvil (blocks
every `--block-time` s, so settles wait on the chain), the stack as `x402fac run` starts it (separate
processes; per-IP and per-payer limits off, default admission bounds unless X402FAC_* says otherwise),
105 funded payers. Then verify p50/p95/max with one verify at a time (idle), and again while
`--settles` concurrent valid settles are in flight, sent from a separate process (a settle answered
503 is retried after its Retry-After, as a resource server does). Loopback only, bounded: the flood
ends when every settle has a final answer or after `--limit` seconds. Prints one JSON summary.
"""

import argparse
import asyncio
import json
import multiprocessing
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench import evm
from bench.targets import X402fac, free_port

PAYERS = 105
JSON_HEADERS = {"content-type": "application/json"}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def _verifies(url: str, bodies: list[bytes], until: asyncio.Event | None = None) -> list[float]:
    """One verify at a time; every body once (or, with `until`, round and round until it is set)."""
    took: list[float] = []
    async with aiohttp.ClientSession() as session:
        index = 0
        while index < len(bodies) or (until is not None and not until.is_set()):
            started = time.perf_counter()
            async with session.post(
                url + "/verify", data=bodies[index % len(bodies)], headers=JSON_HEADERS
            ) as r:
                answer = await r.json()
            took.append(time.perf_counter() - started)
            if r.status != 200 or answer.get("isValid") is not True:
                raise RuntimeError(f"verify answered {r.status}: {answer}")
            index += 1
            if until is not None and until.is_set():
                break
    return took


async def _flood(url: str, bodies: list[bytes], limit: float, out: multiprocessing.Queue) -> dict:
    outcomes: Counter[str] = Counter()
    refused = 0
    deadline = time.monotonic() + limit
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=90)) as session:

        async def settle(body: bytes) -> None:
            nonlocal refused
            while time.monotonic() < deadline:
                async with session.post(url + "/settle", data=body, headers=JSON_HEADERS) as r:
                    answer = await r.json()
                    retry_after = float(r.headers.get("retry-after", "1"))
                if r.status == 503:
                    refused += answer.get("error") == "overloaded"
                    await asyncio.sleep(retry_after)
                    continue
                if answer.get("errorReason") == "settlement_pending":
                    await asyncio.sleep(0.5)
                    continue
                outcomes[
                    "success" if answer.get("success") else answer.get("errorReason", str(r.status))
                ] += 1
                return
            outcomes["unfinished"] += 1

        started = time.monotonic()
        out.put("started")
        await asyncio.gather(*(settle(body) for body in bodies))
    return {
        "outcomes": dict(outcomes),
        "overloaded_503": refused,
        "seconds": round(time.monotonic() - started, 1),
    }


def _flood_process(url: str, bodies: list[bytes], limit: float, out: multiprocessing.Queue) -> None:
    out.put(asyncio.run(_flood(url, bodies, limit, out)))


async def main(settles: int, verifies: int, block_time: int, limit: float) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="x402fac-admission-"))
    devnet = await evm.start_devnet(
        workdir, block_time, signers=1, port=free_port(), solc_cache=workdir / "solc"
    )
    chain = evm.Chain(devnet.info)
    target = X402fac("x402fac")
    try:
        payers = [evm.Payer.create() for _ in range(PAYERS)]
        await chain.fund(p.address for p in payers)
        await target.start({"evm": devnet.info}, workdir)
        verify_bodies = [p.body for p in evm.sign_payments(payers, verifies, evm.new_address())]
        settle_bodies = [p.body for p in evm.sign_payments(payers, settles, evm.new_address())]
        await _verifies(target.url, verify_bodies[:20])  # warm
        idle = _percentiles(await _verifies(target.url, verify_bodies))
        results: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        flood = multiprocessing.get_context("spawn").Process(
            target=_flood_process, args=(target.url, settle_bodies, limit, results)
        )
        flood.start()
        assert await asyncio.to_thread(results.get, True, 60) == "started"
        done = asyncio.Event()
        sampler = asyncio.create_task(_verifies(target.url, verify_bodies, done))
        flooded = await asyncio.to_thread(results.get, True, limit + 120)
        done.set()
        loaded = _percentiles(await sampler)
        flood.join(10)
        return {
            "settles": settles,
            "block_time_s": block_time,
            "verify_idle": idle,
            "verify_under_settles": loaded,
            "p95_ratio": round(loaded["p95_ms"] / idle["p95_ms"], 2),
            "flood": flooded,
        }
    finally:
        await target.stop()
        await chain.close()
        await devnet.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settles", type=int, default=600)
    parser.add_argument("--verifies", type=int, default=300)
    parser.add_argument("--block-time", type=int, default=1)
    parser.add_argument("--limit", type=float, default=180.0, help="seconds the flood may last")
    arguments = parser.parse_args()
    summary = asyncio.run(main(arguments.settles, arguments.verifies, arguments.block_time, arguments.limit))
    print(json.dumps(summary, indent=2))
