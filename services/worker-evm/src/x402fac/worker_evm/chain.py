"""Raw JSON-RPC over aiohttp with failover between a network's endpoints, batches, and a shared
receipt poller (one batched request per tick for every transaction being waited on)."""

from __future__ import annotations

import itertools
import logging
from typing import Any

from x402fac.worker.rpc import BatchWatcher, FailoverHttp, NodeUnavailable

log = logging.getLogger(__name__)


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


class EvmRpc:
    """JSON-RPC client for one network: the first healthy endpoint serves; failures fail over."""

    def __init__(self, urls: list[str], timeout: float = 10.0, max_connections: int = 64) -> None:
        self.http = FailoverHttp(urls, timeout, max_connections)
        self._ids = itertools.count(1)

    async def close(self) -> None:
        await self.http.close()

    async def _post(self, body: Any) -> Any:
        return await self.http.post_json(body, "JSON-RPC")

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


class ReceiptWatcher(BatchWatcher):
    """Waits for receipts of many transactions with one batched poll per tick."""

    def __init__(self, rpc: EvmRpc, interval: float = 0.075, max_batch: int = 100) -> None:
        super().__init__(interval, max_batch)
        self.rpc = rpc

    async def fetch(self, ids: list[str]) -> dict[str, Any]:
        receipts = await self.rpc.batch([("eth_getTransactionReceipt", [tx_hash]) for tx_hash in ids])
        return {
            tx_hash: receipt
            for tx_hash, receipt in zip(ids, receipts, strict=True)
            if isinstance(receipt, dict)
        }
