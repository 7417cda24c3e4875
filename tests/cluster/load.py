"""Settle load through both gateways, every answer kept; the ledger read back afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import nats

from x402fac.bus import Credentials, subjects
from x402fac.protocol.ledger import FINAL_STATES, SettlementRecord

from .payments import Pay

PENDING_BUCKET = "x402fac_pending"
RETRYABLE_503 = ("worker_unavailable", "worker_timeout", "overloaded")


@dataclass
class Attempt:
    """One settle request and what came back (status None: no HTTP answer at all)."""

    pay: Pay
    gateway: int
    sent: float  # monotonic
    answered: float = 0.0
    status: int | None = None
    body: dict[str, Any] | None = None
    error: str = ""
    retry_after: str | None = None

    @property
    def outcome(self) -> str:
        if self.status is None:
            return "no_answer"
        if self.status == 503 and self.body and self.body.get("error") in RETRYABLE_503:
            return "unavailable"
        if self.status != 200 or self.body is None:
            return f"http_{self.status}"
        if self.body.get("success") is True:
            return "success"
        return self.body.get("errorReason") or "failed"

    def describe(self, since: float) -> str:
        """One line for a failure message: when (seconds since `since`), where and what came back."""
        answer = f"{self.status} {self.body}" if self.status is not None else self.error
        return (
            f"{self.pay.family} {self.pay.payment_id} gateway {self.gateway} "
            f"sent +{self.sent - since:.2f}s answered +{self.answered - since:.2f}s: {answer}"
        )

    @property
    def transaction(self) -> str:
        return (self.body or {}).get("transaction") or ""


def client_ip() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


class Client:
    """Settles through the gateways with a fresh connection each time (a connection refused by a
    gateway that stopped goes to the other one, as a load balancer would)."""

    def __init__(self, gateway_urls: list[str], timeout: float = 60.0) -> None:
        self.urls = gateway_urls
        self.http = httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=500, max_keepalive_connections=0)
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def post(self, path: str, body: bytes, gateway: int, ip: str | None = None) -> httpx.Response:
        headers = {"content-type": "application/json", "x-forwarded-for": ip or client_ip()}
        for attempt in range(2 * len(self.urls)):
            url = self.urls[(gateway + attempt) % len(self.urls)]
            try:
                return await self.http.post(f"{url}{path}", content=body, headers=headers)
            except httpx.ConnectError:
                await asyncio.sleep(0.1)
        raise httpx.ConnectError("no gateway accepts connections")

    async def settle(
        self, pay: Pay, gateway: int, body: bytes | None = None, ip: str | None = None
    ) -> Attempt:
        attempt = Attempt(pay, gateway, time.monotonic())
        try:
            response = await self.post("/settle", body or pay.body, gateway, ip)
            attempt.status = response.status_code
            attempt.retry_after = response.headers.get("retry-after")
            with contextlib.suppress(ValueError):
                attempt.body = response.json()
        except httpx.HTTPError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
        attempt.answered = time.monotonic()
        return attempt


@dataclass
class Load:
    """`loops` concurrent settle loops per family, each at most one settle every `interval` seconds,
    alternating gateways. With `retry_503` a loop retries the same payment after a 503
    worker_unavailable/worker_timeout (honouring Retry-After) or a `settlement_pending` (which names
    the transaction sent; the same settle again returns the final outcome), as a resource server would."""

    client: Client
    makers: dict[str, Callable[[], Awaitable[Pay]]]
    loops: int = 2
    interval: float = 0.5
    retry_503: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    started: float = 0.0
    stopped: float = 0.0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def start(self) -> None:
        self.started = time.monotonic()
        gateways = itertools.count()
        for family in self.makers:
            for _ in range(self.loops):
                self._tasks.append(asyncio.create_task(self._loop(family, gateways)))

    async def _loop(self, family: str, gateways: itertools.count) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            pay = await self.makers[family]()
            attempt = await self.client.settle(pay, next(gateways) % len(self.client.urls))
            self.attempts.append(attempt)
            while self.retry_503 and attempt.outcome in ("unavailable", "settlement_pending"):
                # 503: as Retry-After says; pending: the same settle again gives the final outcome
                delay = float(attempt.retry_after or 1) if attempt.outcome == "unavailable" else 0.5
                await asyncio.sleep(min(delay, 5.0))
                attempt = await self.client.settle(pay, next(gateways) % len(self.client.urls))
                self.attempts.append(attempt)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - began)))

    async def stop(self) -> None:
        """No new payments; the ones in flight finish."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self.stopped = time.monotonic()

    def by_payment(self) -> dict[str, list[Attempt]]:
        found: dict[str, list[Attempt]] = {}
        for attempt in self.attempts:
            found.setdefault(attempt.pay.payment_id, []).append(attempt)
        return found


class LedgerReader:
    """The ledger's records and pending index, read straight from JetStream KV."""

    def __init__(self, nats_urls: list[str], credentials: Credentials) -> None:
        self.urls = nats_urls
        self.credentials = credentials  # the ledger's: only it reads the buckets
        self.nc: Any = None

    async def open(self) -> None:
        self.nc = await nats.connect(
            servers=self.urls, max_reconnect_attempts=-1, connect_timeout=2, **self.credentials.options()
        )

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()

    async def record(self, payment_id: str) -> SettlementRecord | None:
        from x402fac.bus import encode_key

        kv = await self.nc.jetstream().key_value(subjects.SETTLEMENTS_BUCKET)
        try:
            entry = await kv.get(encode_key(payment_id))
        except Exception:  # not found (or deleted: a released claim)
            return None
        return msgspec.json.decode(entry.value, type=SettlementRecord) if entry.value else None

    async def records(self, payment_ids: list[str]) -> dict[str, SettlementRecord | None]:
        found = {}
        for start in range(0, len(payment_ids), 50):
            chunk = payment_ids[start : start + 50]
            values = await asyncio.gather(*(self.record(p) for p in chunk))
            found.update(zip(chunk, values, strict=True))
        return found

    async def pending(self) -> list[str]:
        kv = await self.nc.jetstream().key_value(PENDING_BUCKET)
        try:
            return list(await kv.keys())
        except Exception:  # no keys
            return []

    async def wait_no_pending(self, timeout: float) -> tuple[float, list[str]]:
        """Seconds until the pending index is empty, and what is left if it never is."""
        started = time.monotonic()
        left = await self.pending()
        while left and time.monotonic() - started < timeout:
            await asyncio.sleep(0.5)
            left = await self.pending()
        return time.monotonic() - started, left


def final(record: SettlementRecord | None) -> bool:
    return record is not None and record.state in FINAL_STATES
