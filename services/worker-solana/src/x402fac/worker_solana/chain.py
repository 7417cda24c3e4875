"""Solana JSON-RPC over aiohttp: failover between a network's endpoints, the few reads and writes
the `exact` scheme needs, and one batched signature-status poll shared by every waiting settle."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

# An endpoint that failed at transport level is skipped for this long (unless all are down).
COOLDOWN_SECONDS = 5.0
MAX_STATUSES_PER_CALL = 256  # getSignatureStatuses limit
MAX_ACCOUNTS_PER_CALL = 100  # getMultipleAccounts limit


class RpcError(Exception):
    """A node answered with a JSON-RPC error (the request reached it)."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.code = error.get("code")
        self.message = str(error.get("message", ""))
        self.data = error.get("data")
        super().__init__(f"{method}: {self.message}")


class NodeUnavailable(Exception):
    """No endpoint answered. `maybe_delivered` is False only if no request could have reached a node."""

    def __init__(self, message: str, maybe_delivered: bool = True) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


@dataclass(frozen=True, slots=True)
class AccountData:
    owner: str
    lamports: int
    data: bytes
    executable: bool


class _Endpoint:
    def __init__(self, url: str) -> None:
        self.url = url
        self.down_until = 0.0


class SolanaClient:
    """JSON-RPC client for one network: the first healthy endpoint serves; failures fail over."""

    def __init__(
        self, urls: list[str] | tuple[str, ...], timeout: float = 10.0, max_connections: int = 64
    ) -> None:
        if not urls:
            raise ValueError("at least one RPC URL is required")
        self.endpoints = [_Endpoint(url) for url in urls]
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_connections = max_connections
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _order(self) -> list[_Endpoint]:
        now = time.monotonic()
        healthy = [e for e in self.endpoints if e.down_until <= now]
        return healthy + [e for e in self.endpoints if e.down_until > now]

    async def call(self, method: str, *params: Any) -> Any:
        """POSTs to endpoints in order until one answers with JSON; RpcError for a JSON-RPC error."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        maybe_delivered = False
        errors = []
        for endpoint in self._order():
            try:
                async with self._client().post(endpoint.url, json=body) as response:
                    if response.status >= 500 or response.status == 429:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status, message=response.reason or ""
                        )
                    reply = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                # A refused connection never reached the node; anything later might have.
                if not isinstance(exc, aiohttp.ClientConnectorError):
                    maybe_delivered = True
                endpoint.down_until = time.monotonic() + COOLDOWN_SECONDS
                errors.append(f"{endpoint.url}: {exc!r}")
                log.warning("solana rpc endpoint failed, failing over: %s: %r", endpoint.url, exc)
                continue
            endpoint.down_until = 0.0
            if not isinstance(reply, dict):
                raise NodeUnavailable(f"{method}: malformed JSON-RPC reply")
            if reply.get("error") is not None:
                raise RpcError(method, reply["error"])
            return reply.get("result")
        raise NodeUnavailable(f"{method}: no RPC endpoint answered: " + "; ".join(errors), maybe_delivered)

    # ---- typed calls ----

    async def genesis_hash(self) -> str:
        return await self.call("getGenesisHash")

    async def accounts(self, addresses: list[str], commitment: str = "confirmed") -> list[AccountData | None]:
        """Several accounts in one or more getMultipleAccounts calls (None where none exists)."""
        found: list[AccountData | None] = []
        for start in range(0, len(addresses), MAX_ACCOUNTS_PER_CALL):
            chunk = addresses[start : start + MAX_ACCOUNTS_PER_CALL]
            result = await self.call(
                "getMultipleAccounts", chunk, {"encoding": "base64", "commitment": commitment}
            )
            for value in result["value"]:
                found.append(
                    None
                    if value is None
                    else AccountData(
                        owner=value["owner"],
                        lamports=value["lamports"],
                        data=base64.b64decode(value["data"][0]),
                        executable=value["executable"],
                    )
                )
        return found

    async def simulate(self, transaction: bytes, *, sig_verify: bool = False) -> dict[str, Any]:
        result = await self.call(
            "simulateTransaction",
            base64.b64encode(transaction).decode(),
            {"encoding": "base64", "sigVerify": sig_verify, "commitment": "confirmed"},
        )
        return result["value"]

    async def send(self, transaction: bytes) -> str:
        """Hand the signed transaction to the node; verify already simulated it, so no preflight."""
        return await self.call(
            "sendTransaction",
            base64.b64encode(transaction).decode(),
            {"encoding": "base64", "skipPreflight": True, "preflightCommitment": "confirmed"},
        )

    async def signature_statuses(self, signatures: list[str]) -> list[dict[str, Any] | None]:
        result = await self.call("getSignatureStatuses", signatures, {"searchTransactionHistory": True})
        return result["value"]

    async def is_blockhash_valid(self, blockhash: str) -> bool:
        result = await self.call("isBlockhashValid", blockhash, {"commitment": "confirmed"})
        return bool(result["value"])


class StatusWatcher:
    """Waits on many signatures with one batched getSignatureStatuses per tick."""

    def __init__(self, client: SolanaClient, interval: float = 0.2) -> None:
        self.client = client
        self.interval = interval
        self._waiters: dict[str, list[tuple[asyncio.Future, frozenset[str]]]] = {}
        self._task: asyncio.Task | None = None

    async def wait(self, signature: str, timeout: float, levels: frozenset[str]) -> dict[str, Any] | None:
        """The status once it failed or reached one of `levels`; None if that took over `timeout`."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (future, levels)
        self._waiters.setdefault(signature, []).append(entry)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(signature)
            if waiters is not None and entry in waiters:
                waiters.remove(entry)
                if not waiters:
                    del self._waiters[signature]

    async def _poll(self) -> None:
        while self._waiters:
            signatures = list(self._waiters)
            for start in range(0, len(signatures), MAX_STATUSES_PER_CALL):
                chunk = signatures[start : start + MAX_STATUSES_PER_CALL]
                try:
                    statuses = await self.client.signature_statuses(chunk)
                except (NodeUnavailable, RpcError) as exc:
                    log.warning("signature status poll failed: %s", exc)
                    break
                for signature, status in zip(chunk, statuses, strict=True):
                    if status is None:
                        continue
                    for future, levels in self._waiters.get(signature, []):
                        done = status.get("err") is not None or status.get("confirmationStatus") in levels
                        if done and not future.done():
                            future.set_result(status)
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
