"""Raw JSON-RPC over aiohttp with failover between a network's endpoints, batches, and a shared
receipt poller (one batched request per tick for every transaction being waited on)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

# An endpoint that failed at transport level is skipped for this long (unless all are down).
COOLDOWN_SECONDS = 5.0


class RpcError(Exception):
    """A node answered with a JSON-RPC error (the request reached it; this is not a transport fault)."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.code = error.get("code")
        self.message = str(error.get("message", ""))
        self.data = error.get("data")
        super().__init__(f"{method}: {self.message}")

    @property
    def revert_data(self) -> bytes | None:
        """The revert payload of a failed eth_call / eth_estimateGas, when the node returned one."""
        data = self.data
        if isinstance(data, dict):  # some nodes nest it
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                return None
        return None

    @property
    def is_revert(self) -> bool:
        return self.code == 3 or "revert" in self.message.lower()


class NodeUnavailable(Exception):
    """No endpoint answered. `maybe_delivered` is False only if no request could have reached a node."""

    def __init__(self, message: str, maybe_delivered: bool = True) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class _Endpoint:
    def __init__(self, url: str) -> None:
        self.url = url
        self.down_until = 0.0


class EvmRpc:
    """JSON-RPC client for one network: the first healthy endpoint serves; failures fail over."""

    def __init__(self, urls: list[str], timeout: float = 10.0, max_connections: int = 64) -> None:
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

    async def _post(self, body: Any) -> Any:
        """POSTs to endpoints in order until one answers with JSON."""
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
                endpoint.down_until = 0.0
                return reply
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                # A refused connection never reached the node; anything later might have.
                if not isinstance(exc, aiohttp.ClientConnectorError):
                    maybe_delivered = True
                endpoint.down_until = time.monotonic() + COOLDOWN_SECONDS
                errors.append(f"{endpoint.url}: {exc!r}")
                log.warning("rpc endpoint failed, failing over: %s: %r", endpoint.url, exc)
        raise NodeUnavailable("no RPC endpoint answered: " + "; ".join(errors), maybe_delivered)

    async def call(self, method: str, *params: Any) -> Any:
        reply = await self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        if not isinstance(reply, dict):
            raise NodeUnavailable(f"{method}: malformed JSON-RPC reply")
        if reply.get("error") is not None:
            raise RpcError(method, reply["error"])
        return reply.get("result")

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results in call order; a call that failed yields its RpcError instead of a result."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}
            for id_, (method, params) in zip(ids, calls, strict=True)
        ]
        replies = await self._post(body)
        if not isinstance(replies, list):
            raise NodeUnavailable("batch: malformed JSON-RPC reply")
        by_id = {reply.get("id"): reply for reply in replies if isinstance(reply, dict)}
        results: list[Any] = []
        for id_, (method, _) in zip(ids, calls, strict=True):
            reply = by_id.get(id_)
            if reply is None:
                results.append(RpcError(method, {"code": -32603, "message": "missing from batch reply"}))
            elif reply.get("error") is not None:
                results.append(RpcError(method, reply["error"]))
            else:
                results.append(reply.get("result"))
        return results


class ReceiptWatcher:
    """Waits for receipts of many transactions with one batched poll per tick."""

    def __init__(self, rpc: EvmRpc, interval: float = 0.075, max_batch: int = 100) -> None:
        self.rpc = rpc
        self.interval = interval
        self.max_batch = max_batch
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None

    async def wait(self, tx_hash: str, timeout: float) -> dict[str, Any] | None:
        """The receipt, or None if none arrived within `timeout` seconds."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(tx_hash)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[tx_hash]

    async def _poll(self) -> None:
        while self._waiters:
            hashes = list(self._waiters)
            for start in range(0, len(hashes), self.max_batch):
                chunk = hashes[start : start + self.max_batch]
                try:
                    receipts = await self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in chunk])
                except NodeUnavailable as exc:
                    log.warning("receipt poll failed: %s", exc)
                    break
                for tx_hash, receipt in zip(chunk, receipts, strict=True):
                    if isinstance(receipt, dict):
                        for future in self._waiters.pop(tx_hash, []):
                            if not future.done():
                                future.set_result(receipt)
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
