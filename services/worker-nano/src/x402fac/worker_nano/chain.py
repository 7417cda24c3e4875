"""The worker's nano_node client: x402fac.nano.node over FailoverHttp (failover between a network's nodes), and
a shared confirmation watcher.

A node's `{"error": ...}` answer is a NodeError carrying the node's message (the request reached a node); a
transport failure moves on to the next URL, and NodeUnavailable means none answered.
"""

from __future__ import annotations

from typing import Any

from x402fac.nano import node
from x402fac.nano.node import NodeError
from x402fac.rpc import BatchWatcher, FailoverHttp, NodeUnavailable

__all__ = ["ConfirmationWatcher", "NanoNode", "NodeError"]


class NanoNode(node.NanoNode):
    """nano_node RPC for one network: the first healthy URL serves; a transport failure fails over."""

    def __init__(
        self, urls: list[str] | tuple[str, ...], timeout: float = 10.0, max_connections: int = 64
    ) -> None:
        super().__init__(FailoverHttp(urls, timeout, max_connections))

    def malformed(self, action: str, answer: Any) -> Exception:
        # Not an answer from a working node: as unsure as a transport failure.
        return NodeUnavailable(f"{action}: the node answered {answer!r:.80}, not a JSON object")

    async def process_send(self, block: dict[str, Any]) -> str:
        return await self.process(block, "send")


class ConfirmationWatcher(BatchWatcher):
    """Waits for many blocks' confirmation with one `blocks_info` request per tick."""

    def __init__(self, node: NanoNode, interval: float, max_batch: int = 200) -> None:
        super().__init__(interval, max_batch)
        self.node = node

    async def fetch(self, ids: list[str]) -> dict[str, Any]:
        blocks = await self.node.blocks_info(ids)
        return {block_hash: True for block_hash, entry in blocks.items() if entry.get("confirmed") == "true"}

    async def wait(self, id_: str, timeout: float) -> bool:
        """True once the block is confirmed; False if it is not within `timeout` seconds."""
        return await super().wait(id_, timeout) is not None
