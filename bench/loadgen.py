"""The load generator: an async aiohttp client, closed loop (N workers) or open loop (fixed rate).

Open-loop latency is measured from each request's *scheduled* send time, so a target that falls
behind is charged for the queueing it causes (no coordinated omission). A request due while the
in-flight cap is reached is not sent and counts as `skipped_saturated`.
Its own CPU time is read from its CPU-time clock around each run and reported per request.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
import msgspec

from bench.procstat import cpu_seconds

HEADERS = {"Content-Type": "application/json"}
# A slow closed-loop workload (one settle at a time, ~1 s each) runs past its duration until it sent
# its minimum number of requests, at most this many times its duration.
MIN_REQUESTS_TIME_FACTOR = 5.0
_decode = msgspec.json.decode


@dataclass(slots=True)
class Sample:
    index: int  # into the payment list
    latency: float  # seconds
    outcome: str  # "ok" or a reason code / client error
    transaction: str = ""


@dataclass
class Run:
    mode: str  # closed | open | burst
    level: float  # concurrency, or requests per second
    samples: list[Sample] = field(default_factory=list)
    started: float = 0.0
    elapsed: float = 0.0  # first send to last answer
    loadgen_cpu: float = 0.0  # seconds

    @property
    def outcomes(self) -> Counter:
        return Counter(s.outcome for s in self.samples)

    def summary(self) -> dict:
        answered = [s for s in self.samples if not s.outcome.startswith(("skipped", "not_finished"))]
        latencies = sorted(s.latency for s in answered)
        ok = sum(1 for s in self.samples if s.outcome == "ok")
        errors = {k: v for k, v in sorted(self.outcomes.items()) if k != "ok"}
        elapsed = self.elapsed or 1e-9
        return {
            "mode": self.mode,
            "level": self.level,
            "requests": len(self.samples),
            "ok": ok,
            "errors": errors,
            "elapsed_s": round(self.elapsed, 3),
            "throughput": round(len(answered) / elapsed, 1),
            "ok_per_s": round(ok / elapsed, 1),
            "p50_ms": _percentile_ms(latencies, 50),
            "p90_ms": _percentile_ms(latencies, 90),
            "p99_ms": _percentile_ms(latencies, 99),
            "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
            "loadgen_cpu_ms_per_req": round(1000 * self.loadgen_cpu / max(len(self.samples), 1), 3),
            "loadgen_core_share": round(self.loadgen_cpu / elapsed, 3),
        }


def _percentile_ms(sorted_values: Sequence[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    rank = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return round(sorted_values[rank] * 1000, 2)


class Client:
    def __init__(self, max_connections: int, timeout: float) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        await self.session.close()

    async def send(self, url: str, body: bytes, settle: bool) -> tuple[str, str]:
        """(outcome, transaction) of one POST: "ok" or the reason, or the client-side failure."""
        try:
            async with self.session.post(url, data=body, headers=HEADERS) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            return "client_timeout", ""
        except aiohttp.ClientError as exc:
            return f"connection_error:{type(exc).__name__}", ""
        if status != 200:
            try:
                error = _decode(raw).get("error", "")
            except (msgspec.DecodeError, AttributeError):
                error = ""
            return (f"http_{status}:{error}"[:80] if error else f"http_{status}"), ""
        try:
            answer = _decode(raw)
        except msgspec.DecodeError:
            return "bad_json", ""
        if settle:
            transaction = answer.get("transaction") or ""
            if answer.get("success"):
                return "ok", transaction
            return answer.get("errorReason") or "unknown", transaction
        if answer.get("isValid"):
            return "ok", ""
        return answer.get("invalidReason") or "unknown", ""


async def closed_loop(
    client: Client,
    url: str,
    bodies: Sequence[bytes],
    concurrency: int,
    duration: float,
    settle: bool,
    min_requests: int = 0,
) -> Run:
    """`concurrency` workers send back to back until `duration` elapsed or the bodies run out; past
    `duration`, on until `min_requests` were sent (at most MIN_REQUESTS_TIME_FACTOR times as long)."""
    run = Run("closed", concurrency)
    cursor = iter(range(len(bodies)))
    cpu_before = cpu_seconds_self()
    run.started = start = time.perf_counter()
    deadline = start + duration
    longest = start + MIN_REQUESTS_TIME_FACTOR * duration
    last = start
    sent_count = 0

    def more() -> bool:
        now = time.perf_counter()
        return now < deadline or (sent_count < min_requests and now < longest)

    async def worker() -> None:
        nonlocal last, sent_count
        while more():
            index = next(cursor, None)
            if index is None:
                return
            sent_count += 1
            sent = time.perf_counter()
            outcome, transaction = await client.send(url, bodies[index], settle)
            last = time.perf_counter()
            run.samples.append(Sample(index, last - sent, outcome, transaction))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.elapsed = last - start
    run.loadgen_cpu = cpu_seconds_self() - cpu_before
    return run


async def open_loop(
    client: Client,
    url: str,
    bodies: Sequence[bytes],
    rate: float,
    duration: float,
    settle: bool,
    max_inflight: int,
    drain_timeout: float,
) -> Run:
    """One request every 1/rate seconds for `duration`; latency counts from the scheduled time."""
    run = Run("open", rate)
    count = min(len(bodies), int(rate * duration))
    inflight: set[asyncio.Task] = set()
    cpu_before = cpu_seconds_self()
    run.started = start = time.perf_counter() + 0.01
    last = start

    async def one(index: int, scheduled: float) -> None:
        nonlocal last
        outcome, transaction = await client.send(url, bodies[index], settle)
        last = max(last, time.perf_counter())
        run.samples.append(Sample(index, last - scheduled, outcome, transaction))

    for index in range(count):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(inflight) >= max_inflight:
            run.samples.append(Sample(index, 0.0, "skipped_saturated"))
            continue
        task = asyncio.create_task(one(index, scheduled))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        _, pending = await asyncio.wait(set(inflight), timeout=drain_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        answered = {s.index for s in run.samples}
        run.samples += [Sample(i, 0.0, "not_finished") for i in range(count) if i not in answered]
    run.elapsed = max(last - start, count / rate)
    run.loadgen_cpu = cpu_seconds_self() - cpu_before
    return run


async def burst(client: Client, url: str, body: bytes, copies: int, settle: bool) -> Run:
    """The same body `copies` times at once (duplicate settles)."""
    run = Run("burst", copies)
    cpu_before = cpu_seconds_self()
    run.started = start = time.perf_counter()

    async def one() -> None:
        outcome, transaction = await client.send(url, body, settle)
        run.samples.append(Sample(0, time.perf_counter() - start, outcome, transaction))

    await asyncio.gather(*(one() for _ in range(copies)))
    run.elapsed = time.perf_counter() - start
    run.loadgen_cpu = cpu_seconds_self() - cpu_before
    return run


def cpu_seconds_self() -> float:
    return cpu_seconds(os.getpid())
