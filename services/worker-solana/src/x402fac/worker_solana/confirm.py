"""The chain's verdict on a settlement: confirmed, failed, still pending, or expired unlanded."""

from __future__ import annotations

import asyncio
from typing import Any

from solders.hash import Hash

from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable, RpcError
from x402fac.worker import Confirmation, Outcome

from .chain import SLOT_SECONDS
from .runtime import CONFIRMED_LEVELS, SolanaRuntime, error_text, is_insufficient_funds

# The soonest a transaction just sent can be `confirmed`: it lands in a slot, and votes on that slot
# land in the next one. A status asked for sooner can only say `processed` (or not yet landed).
FIRST_STATUS_SECONDS = 2 * SLOT_SECONDS


async def settled(
    runtime: SolanaRuntime,
    transaction: str,
    timeout: float,
    blockhash: Hash | str | None,
    just_sent: bool = False,
) -> Outcome:
    """The chain's verdict, waiting up to `timeout`; once `blockhash` expired, what the chain holds
    is final (a transaction that has not landed never will). A transaction `just_sent` cannot be
    confirmed before two slots have passed: its status is not asked for sooner."""
    if just_sent:
        first = min(FIRST_STATUS_SECONDS, timeout)
        await asyncio.sleep(first)
        timeout -= first
    status = await runtime.watcher.wait(transaction, timeout)
    if status is not None:
        return _outcome(status)
    if blockhash is None:
        return Outcome(Confirmation.PENDING, message=f"not confirmed within {timeout:g}s")
    try:
        if await runtime.client.is_blockhash_valid(str(blockhash)):
            return Outcome(Confirmation.PENDING, message=f"not confirmed within {timeout:g}s")
        (status,) = await runtime.client.signature_statuses([transaction])
    except (NodeUnavailable, RpcError) as exc:
        return Outcome(Confirmation.PENDING, message=f"status unknown: {exc}")
    if status is None:
        return Outcome(
            Confirmation.DROPPED,
            Reason.BLOCKHASH_EXPIRED,
            "the blockhash expired before the transaction landed; nothing was paid",
        )
    if status.get("err") is not None or status.get("confirmationStatus") in CONFIRMED_LEVELS:
        return _outcome(status)
    return Outcome(Confirmation.PENDING, message="processed, not yet confirmed")


def _outcome(status: dict[str, Any]) -> Outcome:
    err = status.get("err")
    if err is None:
        return Outcome(Confirmation.CONFIRMED)
    reason = Reason.INSUFFICIENT_BALANCE if is_insufficient_funds(err) else Reason.SETTLEMENT_FAILED
    return Outcome(Confirmation.FAILED, reason, f"the transaction failed on-chain: {error_text(err)}")
