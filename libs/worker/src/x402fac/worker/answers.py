"""The settle answers the pipeline builds besides a success: a failure, `settlement_pending` (always
naming the transaction sent) and `duplicate_settlement` (naming the paying transaction)."""

from datetime import UTC, datetime

from x402fac.protocol import Reason, SettleResponse
from x402fac.protocol.ledger import RecordState, SettlementRecord


def failure_answer(network: str, reason: str, message: str, payer: str | None) -> SettleResponse:
    return SettleResponse(
        success=False,
        transaction="",
        network=network,
        error_reason=str(reason),
        error_message=message or None,
        payer=payer,
    )


def pending_answer(network: str, transaction: str, payer: str | None, message: str) -> SettleResponse:
    """`settlement_pending` names the transaction already sent: without one, nothing is pending."""
    if not transaction:
        raise ValueError("settlement_pending needs the transaction that was sent")
    return SettleResponse(
        success=False,
        transaction=transaction,
        network=network,
        error_reason=Reason.SETTLEMENT_PENDING,
        error_message=message or "settlement in progress; retry the same settle for the outcome",
        payer=payer,
    )


def duplicate_answer(network: str, record: SettlementRecord | None, payer: str | None) -> SettleResponse:
    """Another request has (or had) this payment: the copy is told so, with the paying transaction."""
    transaction = record.transaction if record else ""
    if record is not None and record.delivered_at:
        when = datetime.fromtimestamp(record.delivered_at, UTC).isoformat(timespec="seconds")
        message = f"this payment was already settled (transaction {transaction}, at {when})"
    elif record is not None and record.state is RecordState.SETTLED:
        message = f"this payment was settled (transaction {transaction}) for another request"
    else:
        sent = f" (transaction {transaction})" if transaction else ""
        message = f"this payment is being settled for another request{sent}"
    return SettleResponse(
        success=False,
        transaction=transaction,
        network=network,
        error_reason=Reason.DUPLICATE_SETTLEMENT,
        error_message=message,
        payer=payer,
    )
