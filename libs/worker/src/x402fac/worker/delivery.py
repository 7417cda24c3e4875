"""A payment's final verdict: stored once, and a success handed only to the request the ledger
delivers it to (docs/design.md, 2.4 and 2.5)."""

from x402fac.protocol import Reason, SettleResponse
from x402fac.protocol.ledger import ReleaseReason, SettlementRecord

from .answers import duplicate_answer, failure_answer, pending_answer
from .ledger_client import LedgerClient
from .requester import Requester
from .scheme import Confirmation, Outcome


def success_answer(record: SettlementRecord) -> SettleResponse:
    """The answer of a payment settled as `record` says."""
    return SettleResponse(
        success=True,
        transaction=record.transaction,
        network=record.network,
        payer=record.payer,
        amount=record.amount,
    )


async def conclude(
    ledger: LedgerClient,
    record: SettlementRecord,
    revision: int,
    outcome: Outcome,
    requester: Requester | None,
) -> SettleResponse:
    """Turn the chain's verdict on a submitted record into the answer, storing it when final
    (`requester` None: the reconciler, which delivers to nobody)."""
    if outcome.status is Confirmation.PENDING:
        return pending_answer(record.network, record.transaction, record.payer, outcome.message)
    if outcome.status is Confirmation.DROPPED:
        await ledger.release(record.payment_id, revision, ReleaseReason.DROPPED)
        return failure_answer(
            record.network, outcome.reason or Reason.SETTLEMENT_FAILED, outcome.message, record.payer
        )
    if outcome.status is Confirmation.CONFIRMED:
        final = success_answer(record)
    else:
        final = SettleResponse(
            success=False,
            transaction=record.transaction,
            network=record.network,
            payer=record.payer,
            error_reason=outcome.reason or Reason.SETTLEMENT_FAILED,
            error_message=outcome.message or None,
        )
    return await store_final(ledger, record, revision, final, requester)


async def store_final(
    ledger: LedgerClient,
    record: SettlementRecord,
    revision: int,
    final: SettleResponse,
    requester: Requester | None,
) -> SettleResponse:
    """Store the verdict; a success is this request's answer only if the ledger handed it over."""
    receiver = requester.id if requester is not None and not requester.detached else ""
    attempt = requester.attempt if requester is not None else ""
    until = requester.deadline if requester is not None else 0.0  # the reserve is for this
    stored = await ledger.finalize(record.payment_id, revision, final, receiver, until=until, attempt=attempt)
    held = stored.record
    answer = held.response if held is not None and held.response is not None else final
    if not answer.success:
        return answer
    if stored.delivered or (
        held is not None and held.delivered_to == receiver != "" and held.attempt == attempt
    ):
        return answer
    if held is not None and held.delivered_at:
        return duplicate_answer(record.network, held, record.payer)
    # Confirmed, but this request is no longer the one waiting: the success is kept for the retry.
    if not answer.transaction:  # settled with nothing sent: nothing is pending on the chain either
        return failure_answer(
            record.network,
            Reason.SETTLEMENT_PENDING,
            "settled; retry the same settle for the answer",
            record.payer,
        )
    return pending_answer(
        record.network,
        answer.transaction,
        record.payer,
        "confirmed; retry the same settle for the answer",
    )
