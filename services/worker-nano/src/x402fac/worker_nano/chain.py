"""nano_node RPC over aiohttp with failover between a network's nodes, and a shared confirmation watcher.

A node's `{"error": ...}` answer is a NodeError carrying the node's message (the request reached a node); a
transport failure moves on to the next URL, and NodeUnavailable means none answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

# A node that failed at transport level is tried last for this long.
COOLDOWN_SECONDS = 5.0
ACCOUNT_NOT_FOUND = "Account not found"
BLOCK_NOT_FOUND = "Block not found"


class NodeError(Exception):
    """The node answered {"error": message}."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class NodeUnavailable(Exception):
    """No node answered. `maybe_delivered` is False only if no request can have reached a node."""

    def __init__(self, message: str, maybe_delivered: bool = True) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class _Endpoint:
    def __init__(self, url: str) -> None:
        self.url = url
        self.down_until = 0.0


class NanoNode:
    """RPC client for one network: the first healthy URL serves; a transport failure fails over."""

    def __init__(
        self, urls: list[str] | tuple[str, ...], timeout: float = 10.0, max_connections: int = 64
    ) -> None:
        if not urls:
            raise ValueError("at least one RPC URL is required")
        self.endpoints = [_Endpoint(url) for url in urls]
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_connections = max_connections
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

    async def call(self, action: str, **params: Any) -> dict[str, Any]:
        body = {"action": action, **params}
        maybe_delivered = False
        errors = []
        for endpoint in self._order():
            try:
                async with self._client().post(endpoint.url, json=body) as response:
                    if response.status >= 500 or response.status == 429:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status, message=response.reason or ""
                        )
                    answer = await response.json(content_type=None)
                if not isinstance(answer, dict):
                    raise ValueError(f"not a JSON object: {answer!r:.80}")
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                # A refused connection never reached the node; anything later might have.
                if not isinstance(exc, aiohttp.ClientConnectorError):
                    maybe_delivered = True
                endpoint.down_until = time.monotonic() + COOLDOWN_SECONDS
                errors.append(f"{endpoint.url}: {exc!r}")
                log.warning("nano node failed, failing over: %s: %r", endpoint.url, exc)
                continue
            endpoint.down_until = 0.0
            if "error" in answer:
                raise NodeError(action, str(answer["error"]))
            return answer
        raise NodeUnavailable(f"no Nano node answered {action}: " + "; ".join(errors), maybe_delivered)

    async def account_info(self, address: str) -> dict[str, Any] | None:
        """Confirmed and unconfirmed state of an account, or None if it is not opened."""
        try:
            return await self.call(
                "account_info", account=address, include_confirmed="true", representative="true"
            )
        except NodeError as error:
            if error.message == ACCOUNT_NOT_FOUND:
                return None
            raise

    async def block_info(self, block_hash: str) -> dict[str, Any] | None:
        try:
            return await self.call("block_info", hash=block_hash, json_block="true")
        except NodeError as error:
            if error.message == BLOCK_NOT_FOUND:
                return None
            raise

    async def process_send(self, block: dict[str, Any]) -> str:
        answer = await self.call("process", json_block="true", subtype="send", block=block)
        return str(answer["hash"])


class ConfirmationWatcher:
    """Waits for many blocks' confirmation with one `blocks_info` request per tick."""

    def __init__(self, node: NanoNode, interval: float = 0.05, max_batch: int = 200) -> None:
        self.node = node
        self.interval = interval
        self.max_batch = max_batch
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None

    async def wait(self, block_hash: str, timeout: float) -> bool:
        """True once the block is confirmed; False if it is not within `timeout` seconds."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(block_hash, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(block_hash)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[block_hash]

    async def _poll(self) -> None:
        while self._waiters:
            hashes = list(self._waiters)
            for start in range(0, len(hashes), self.max_batch):
                chunk = hashes[start : start + self.max_batch]
                try:
                    answer = await self.node.call("blocks_info", hashes=chunk, include_not_found="true")
                except (NodeError, NodeUnavailable) as exc:
                    log.warning("confirmation poll failed: %s", exc)
                    break
                blocks = answer.get("blocks") or {}  # the node writes an empty map as ""
                for block_hash, entry in blocks.items():
                    if isinstance(entry, dict) and entry.get("confirmed") == "true":
                        for future in self._waiters.pop(block_hash, []):
                            if not future.done():
                                future.set_result(True)
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
