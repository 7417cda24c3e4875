"""Solana JSON-RPC over aiohttp: failover between a network's endpoints, the few reads and writes
the `exact` scheme needs, and one batched signature-status poll shared by every waiting settle."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from x402fac.rpc import BatchWatcher, JsonRpcClient, RpcError

MAX_STATUSES_PER_CALL = 256  # getSignatureStatuses limit
MAX_ACCOUNTS_PER_CALL = 100  # getMultipleAccounts limit
SLOT_SECONDS = 0.4  # a slot's target duration
FIRST_POLL_SECONDS = SLOT_SECONDS / 4


@dataclass(frozen=True, slots=True)
class AccountData:
    owner: str
    lamports: int
    data: bytes
    executable: bool


class SolanaClient(JsonRpcClient):
    """JSON-RPC client for one network: the first healthy endpoint serves; failures fail over."""

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
        """A read: the simulations of verifies arriving together share one HTTP request (`batch`)."""
        (result,) = await self.batch(
            [
                (
                    "simulateTransaction",
                    [
                        base64.b64encode(transaction).decode(),
                        {"encoding": "base64", "sigVerify": sig_verify, "commitment": "confirmed"},
                    ],
                )
            ]
        )
        if isinstance(result, RpcError):
            raise result
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

    async def epoch(self) -> int:
        return int((await self.call("getEpochInfo", {"commitment": "confirmed"}))["epoch"])

    async def is_blockhash_valid(self, blockhash: str) -> bool:
        result = await self.call("isBlockhashValid", blockhash, {"commitment": "confirmed"})
        return bool(result["value"])


class StatusWatcher(BatchWatcher):
    """Waits on many signatures with one batched getSignatureStatuses per tick.

    A signature is done once it failed or reached one of `levels`.
    """

    def __init__(self, client: SolanaClient, interval: float, levels: frozenset[str] = frozenset()) -> None:
        # A status changes at most once a slot: polling faster than half a slot only costs calls.
        super().__init__(interval, MAX_STATUSES_PER_CALL, first_poll=FIRST_POLL_SECONDS)
        self.client = client
        self.levels = levels

    async def fetch(self, ids: list[str]) -> dict[str, Any]:
        statuses = await self.client.signature_statuses(ids)
        return {
            signature: status
            for signature, status in zip(ids, statuses, strict=True)
            if status is not None
            and (status.get("err") is not None or status.get("confirmationStatus") in self.levels)
        }
