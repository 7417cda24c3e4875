"""The chain's verdict on a published block: cemented, still pending, or not on the ledger."""

from __future__ import annotations

from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Confirmation, Outcome

from .chain import NodeError
from .runtime import NanoRuntime


async def settled(runtime: NanoRuntime, transaction: str, timeout: float) -> Outcome:
    """A block hash is all the node needs: the block itself says whether it is on the ledger."""
    if await runtime.watcher.wait(transaction, timeout):
        return Outcome(Confirmation.CONFIRMED)
    try:
        present = await runtime.node.block_info(transaction)
    except (NodeError, NodeUnavailable) as error:
        return Outcome(Confirmation.PENDING, message=f"confirmation unknown: {error}")
    if present is None:
        # Not on the ledger (never processed, or rolled back after losing a fork): nothing was paid, and the
        # same block can still settle later only as itself, so it can never pay twice.
        return Outcome(
            Confirmation.DROPPED, Reason.PROCESS_FAILED, f"block {transaction} is not on the ledger"
        )
    if present.get("confirmed") == "true":
        return Outcome(Confirmation.CONFIRMED)
    return Outcome(Confirmation.PENDING, message=f"block {transaction} not confirmed within {timeout:.1f}s")
