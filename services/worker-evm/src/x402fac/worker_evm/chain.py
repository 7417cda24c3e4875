"""Raw JSON-RPC over aiohttp with failover between a network's endpoints, batches, and a shared
receipt poller (one batched request per tick for every transaction being waited on)."""

from __future__ import annotations

import time
from typing import Any

from x402fac.rpc import BatchWatcher, JsonRpcClient
from x402fac.rpc import RpcError as JsonRpcError

# A transaction found unmined is asked about again after this long even when no new block was seen.
REASK_SECONDS = 2.0
# On a chain that includes a transaction moments after it is sent (automine, sub-second blocks), a
# transaction this recently first looked at is asked about with every poll, whatever the head: its
# block comes a few milliseconds after the send, and learning of the block first costs a second request.
FRESH_SECONDS = 0.03
# There, after a first look that came before the block, the next comes this soon (then at doubling
# delays): the block is a millisecond or two away.
QUICK_REPOLL_SECONDS = 0.001


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
    """Waits for receipts of many transactions with one batched poll per tick. A receipt appears only
    with a block: each tick reads the head (eth_blockNumber) with the receipts of transactions not
    asked about yet, and a transaction found unmined is asked again only once a later block came (or
    after REASK_SECONDS, whatever the head says: a reorg at the same height, nodes behind a balancer).
    On a chain with block times the receipts are asked about once a block, not once a tick. On a chain
    that mines on arrival (the last receipt found came within `fresh` of its transaction's first look)
    a transaction is asked about with every poll for its first `fresh` seconds, in the poll's one
    request, and a poll that came too early is followed sooner."""

    def __init__(
        self, rpc: EvmRpc, interval: float, max_batch: int = 100, fresh: float = FRESH_SECONDS
    ) -> None:
        super().__init__(interval, max_batch)
        self.rpc = rpc
        self.fresh = fresh
        self._first_poll = self.first_poll
        self.mines_on_arrival = False  # learnt from each receipt found
        self.head = -1  # the highest block number read
        # tx hash -> (a head its receipt was missing at, when it was last asked, when first asked)
        self._missing_at: dict[str, tuple[int, float, float]] = {}

    async def fetch(self, ids: list[str]) -> dict[str, Any]:
        now = time.monotonic()
        for gone in [tx for tx in self._missing_at if tx not in self._waiters]:
            del self._missing_at[gone]
        known = self.head
        first = [tx for tx in ids if self._due(tx, known, now)]
        head, *receipts = await self.rpc.batch(
            [("eth_blockNumber", []), *(("eth_getTransactionReceipt", [tx]) for tx in first)]
        )
        if isinstance(head, str):
            self.head = max(known, int(head, 16))
        # Asked after block `known` was seen: a receipt missing now is of no block up to it (the batch's
        # calls run in any order, so not necessarily of none up to the head read beside it).
        found = self._sort(first, receipts, known, now)
        again = [tx for tx in ids if tx not in first and self._due(tx, self.head, now)]
        if again:  # a block came since they were found missing
            receipts = await self.rpc.batch([("eth_getTransactionReceipt", [tx]) for tx in again])
            found |= self._sort(again, receipts, self.head, now)
        return found

    def _due(self, tx: str, head: int, now: float) -> bool:
        missing = self._missing_at.get(tx)
        return (
            missing is None
            or missing[0] < head
            or now - missing[1] >= REASK_SECONDS
            or (self.mines_on_arrival and now - missing[2] < self.fresh)
        )

    def _sort(self, asked: list[str], receipts: list[Any], head: int, now: float) -> dict[str, Any]:
        """The receipts found; the others are remembered as missing at `head`."""
        found = {}
        for tx, receipt in zip(asked, receipts, strict=True):
            if isinstance(receipt, dict):
                found[tx] = receipt
                missing = self._missing_at.pop(tx, None)
                if missing is not None:  # (one found at its first look says nothing of the chain)
                    self._learn(now - missing[2] < self.fresh)
            else:
                missing = self._missing_at.get(tx)
                self._missing_at[tx] = (head, now, now if missing is None else missing[2])
        return found

    def _learn(self, quick: bool) -> None:
        self.mines_on_arrival = quick
        self.first_poll = min(QUICK_REPOLL_SECONDS, self.interval) if quick else self._first_poll
