"""nano_node RPC over aiohttp with failover between a network's nodes, and a shared confirmation watcher.

A node's `{"error": ...}` answer is a NodeError carrying the node's message (the request reached a node); a
transport failure moves on to the next URL, and NodeUnavailable means none answered.
"""

from __future__ import annotations

import logging
from typing import Any

from x402fac.worker.rpc import BatchWatcher, FailoverHttp, NodeUnavailable

log = logging.getLogger(__name__)

ACCOUNT_NOT_FOUND = "Account not found"
BLOCK_NOT_FOUND = "Block not found"


class NodeError(Exception):
    """The node answered {"error": message}."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class NanoNode:
    """RPC client for one network: the first healthy URL serves; a transport failure fails over."""

    def __init__(
        self, urls: list[str] | tuple[str, ...], timeout: float = 10.0, max_connections: int = 64
    ) -> None:
        self.http = FailoverHttp(urls, timeout, max_connections)

    async def close(self) -> None:
        await self.http.close()

    async def call(self, action: str, **params: Any) -> dict[str, Any]:
        answer = await self.http.post_json({"action": action, **params}, action)
        if not isinstance(answer, dict):
            raise NodeUnavailable(f"{action}: the node answered {answer!r:.80}, not a JSON object")
        if "error" in answer:
            raise NodeError(action, str(answer["error"]))
        return answer

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


class ConfirmationWatcher(BatchWatcher):
    """Waits for many blocks' confirmation with one `blocks_info` request per tick."""

    def __init__(self, node: NanoNode, interval: float = 0.05, max_batch: int = 200) -> None:
        super().__init__(interval, max_batch)
        self.node = node

    async def fetch(self, ids: list[str]) -> dict[str, Any]:
        answer = await self.node.call("blocks_info", hashes=ids, include_not_found="true")
        blocks = answer.get("blocks") or {}  # the node writes an empty map as ""
        return {
            block_hash: True
            for block_hash, entry in blocks.items()
            if isinstance(entry, dict) and entry.get("confirmed") == "true"
        }

    async def wait(self, id_: str, timeout: float) -> bool:
        """True once the block is confirmed; False if it is not within `timeout` seconds."""
        return await super().wait(id_, timeout) is not None
