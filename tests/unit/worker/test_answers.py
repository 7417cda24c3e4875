"""The settle answers the pipeline builds: `settlement_pending` always names a transaction."""

import pytest

from x402fac.protocol import Reason
from x402fac.protocol.ledger import RecordState, SettlementRecord
from x402fac.worker.answers import duplicate_answer, failure_answer, pending_answer


def test_pending_without_a_transaction_cannot_be_built():
    with pytest.raises(ValueError):
        pending_answer("eip155:84532", "", "0xpayer", "in progress")


def test_pending_names_transaction_and_network():
    answer = pending_answer("eip155:84532", "0xabc", "0xpayer", "")
    assert (answer.success, answer.error_reason) == (False, Reason.SETTLEMENT_PENDING)
    assert (answer.transaction, answer.network) == ("0xabc", "eip155:84532")
    assert answer.error_message  # says what to do


def _record(**changes) -> SettlementRecord:
    fields = dict(
        payment_id="p",
        family="evm",
        network="eip155:84532",
        payer="0xpayer",
        amount="1",
        state=RecordState.SETTLED,
        created_at=1.0,
        updated_at=1.0,
        transaction="0xpaid",
    )
    return SettlementRecord(**(fields | changes))


def test_duplicate_of_a_delivered_success_names_the_transaction_and_when():
    answer = duplicate_answer("eip155:84532", _record(delivered_at=1_700_000_000.0), "0xpayer")
    assert answer.success is False and answer.error_reason == Reason.DUPLICATE_SETTLEMENT
    assert answer.transaction == "0xpaid"
    assert "already settled" in answer.error_message and "2023-11-14T22:13:20" in answer.error_message


def test_duplicate_of_a_payment_in_progress():
    answer = duplicate_answer("eip155:84532", _record(state=RecordState.CLAIMED, transaction=""), None)
    assert answer.error_reason == Reason.DUPLICATE_SETTLEMENT and answer.transaction == ""
    assert "being settled for another request" in answer.error_message


def test_failure_has_no_transaction():
    answer = failure_answer("nano:devnet", Reason.INVALID_SIGNATURE, "bad", "nano_1")
    assert (answer.transaction, answer.error_reason, answer.payer) == ("", "invalid_signature", "nano_1")


async def test_a_request_without_a_claim_of_its_own_lets_nothing_go():
    """A request that never claimed the payment (a copy, a refusal) has nothing in the ledger to let
    go: the ledger is not asked (there is no key to name)."""
    from x402fac.worker.pipeline import Pipeline
    from x402fac.worker.requester import Requester

    class RefusingLedger:
        async def detach(self, payment_id: str, *args) -> bool:
            raise AssertionError(f"asked to let {payment_id!r} go")

    pipeline = Pipeline(None, "evm", [], ledger=RefusingLedger())  # type: ignore[arg-type]
    assert await pipeline.let_go(Requester.new(), 0.0)
    unclaimed = Requester.new()
    unclaimed.attach("")  # attached without a payment: still nothing to name
    assert await pipeline.let_go(unclaimed, 0.0)
