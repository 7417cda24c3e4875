"""Raw JSON-RPC over aiohttp with failover between a network's endpoints, batches, and a shared
receipt poller (one batched request per tick for every transaction being waited on)."""

from __future__ import annotations

from typing import Any

from x402fac.rpc import BatchWatcher, JsonRpcClient
from x402fac.rpc import RpcError as JsonRpcError


class RpcError(JsonRpcError):
    """A JSON-RPC error with what EVM nodes put in it: revert data and revert detection."""

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


class EvmRpc(JsonRpcClient):
    """JSON-RPC client for one network: the first healthy endpoint serves; failures fail over."""

    error_type = RpcError


class ReceiptWatcher(BatchWatcher):
    """Waits for receipts of many transactions with one batched poll per tick."""

    def __init__(self, rpc: EvmRpc, interval: float, max_batch: int = 100) -> None:
        super().__init__(interval, max_batch)
        self.rpc = rpc

    async def fetch(self, ids: list[str]) -> dict[str, Any]:
        receipts = await self.rpc.batch([("eth_getTransactionReceipt", [tx_hash]) for tx_hash in ids])
        return {
            tx_hash: receipt
            for tx_hash, receipt in zip(ids, receipts, strict=True)
            if isinstance(receipt, dict)
        }
