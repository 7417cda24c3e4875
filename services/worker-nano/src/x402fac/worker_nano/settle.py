"""Publishing the payer's block: `process` (subtype send), and what each node refusal means."""

from __future__ import annotations

from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Prepared, Rejected

from .chain import NanoNode, NodeError
from .runtime import NanoPayment, NanoRuntime

# nano_node `process` refusals (nano/lib/errors.cpp) and what they mean for the payment.
_FORK = "Fork"
_OLD_BLOCK = "Old block"
_REFUSALS: dict[str, tuple[str, bool]] = {  # message -> (reason, retryable)
    _FORK: (Reason.FRONTIER_MOVED, False),
    "Gap previous block": (Reason.PROCESS_FAILED, True),  # this node lacks `previous`: another may have it
    "Block work is insufficient": (Reason.INVALID_WORK, False),
    "Block work is less than threshold": (Reason.INVALID_WORK, False),
    "Bad signature": (Reason.INVALID_SIGNATURE, False),
    "Balance and amount delta do not match": (Reason.PROCESS_FAILED, False),
    "Invalid block balance for given subtype": (Reason.AMOUNT_MISMATCH, False),
    "Block is invalid": (Reason.INVALID_BLOCK, False),
}


def prepare(payment: NanoPayment, payment_id: str, network: str) -> Prepared[NanoPayment]:
    # The payer signed the block: it is published as it is, so its hash is known already.
    return Prepared(transaction=payment_id, network=network, attempt=payment)


async def broadcast(runtime: NanoRuntime, prepared: Prepared[NanoPayment]) -> None:
    node = runtime.node
    try:
        block_hash = await node.process_send(prepared.attempt.to_json())
    except NodeUnavailable as error:
        if not error.maybe_delivered:
            raise Rejected(Reason.NODE_UNAVAILABLE, str(error), retryable=True) from None
        raise  # maybe processed: the pipeline keeps the record pending for reconciliation
    except NodeError as error:
        # A block already on the ledger (an earlier attempt) is refused as "Old block", or, because the node
        # checks the subtype against the account's new balance first, as "Invalid block balance for given
        # subtype": either way it is published, and confirm() gives the verdict.
        if error.message == _OLD_BLOCK or await _on_ledger(node, prepared.transaction):
            return
        reason, retryable = _REFUSALS.get(error.message, (Reason.PROCESS_FAILED, True))
        raise Rejected(reason, f"node refused the block: {error.message}", retryable) from None
    if block_hash != prepared.transaction:
        raise RuntimeError(f"node processed {block_hash}, expected {prepared.transaction}")


async def _on_ledger(node: NanoNode, block_hash: str) -> bool:
    try:
        return await node.block_info(block_hash) is not None
    except (NodeError, NodeUnavailable):
        return False
