"""The ledger's one-success transitions, driven on the store itself (real JetStream KV): a request
lets its payment go (`detach`) when it is answered without the success, and a finalize that the
worker did not get back in time — written before that, after it, or concurrently — never leaves the
success with the answered request; only the attempt that holds a record can let it go."""

import asyncio
import time
import uuid

import msgspec
import pytest
from nats.js.errors import NotFoundError

from x402fac.bus import EmbeddedNats, connect, encode_key, free_port
from x402fac.ledger.config import LedgerConfig
from x402fac.ledger.store import LedgerStore
from x402fac.protocol import SettleResponse
from x402fac.protocol.ledger import (
    ClaimRequest,
    ClaimStatus,
    DetachRequest,
    FinalizeRequest,
    RecordState,
    SubmitRequest,
)


@pytest.fixture(scope="module")
async def store(tmp_path_factory):
    server = EmbeddedNats(tmp_path_factory.mktemp("let-go"), port=free_port())
    await server.start()
    nc = await connect(server.url, name="test-let-go", credentials=server.credentials("ledger"))
    ledger = LedgerStore(nc.jetstream(), LedgerConfig(payer_settle_limit=1_000_000))
    await ledger.open()
    yield ledger
    await ledger.close()
    await nc.drain()
    server.stop()


def _claim(payment_id: str, requester: str, attempt: str, wait: float = 30.0) -> ClaimRequest:
    return ClaimRequest(payment_id, "evm", "eip155:1", "alice", "5", requester, time.time() + wait, attempt)


def _paid(transaction: str) -> SettleResponse:
    return SettleResponse(
        success=True, transaction=transaction, network="eip155:1", payer="alice", amount="5"
    )


async def _submitted(store: LedgerStore, requester: str = "req-1", attempt: str = "a1") -> tuple[str, int]:
    """A fresh payment claimed by `requester` through `attempt`, its transaction recorded."""
    payment_id = f"pay-{uuid.uuid4().hex}"
    claim = await store.claim(_claim(payment_id, requester, attempt))
    assert claim.status is ClaimStatus.CLAIMED and claim.record.attempt == attempt
    submitted = await store.submit(SubmitRequest(payment_id, claim.revision, f"0x{payment_id}"))
    assert submitted.ok
    return payment_id, submitted.revision


async def _finalize(store: LedgerStore, payment_id: str, revision: int, requester: str, attempt: str):
    return await store.finalize(
        FinalizeRequest(payment_id, revision, _paid(f"0x{payment_id}"), requester, attempt)
    )


async def _retry_gets_it(store: LedgerStore, payment_id: str) -> None:
    """A retry (a new request) takes the payment over and is handed the stored success."""
    claim = await store.claim(_claim(payment_id, "req-retry", "r1"))
    assert claim.status is ClaimStatus.ATTACHED, claim
    assert claim.record.state is RecordState.SETTLED
    handed = await _finalize(store, payment_id, claim.revision, "req-retry", "r1")
    assert handed.delivered and handed.record.delivered_to == "req-retry"
    copy = await store.claim(_claim(payment_id, "req-copy", "c1"))
    assert copy.status is ClaimStatus.DELIVERED and copy.record.delivered_to == "req-retry"


async def test_a_finalize_written_after_the_detach_delivers_to_nobody(store):
    payment_id, revision = await _submitted(store)
    let_go = await store.detach(DetachRequest(payment_id, "req-1", "a1"))
    assert let_go.ok and let_go.record.attached == "" and let_go.record.attempt == ""
    late = await _finalize(store, payment_id, revision, "req-1", "a1")
    assert late.ok and not late.delivered
    assert late.record.state is RecordState.SETTLED and late.record.delivered_to == ""
    await _retry_gets_it(store, payment_id)


async def test_a_detach_after_a_delivering_finalize_undoes_the_delivery(store):
    payment_id, revision = await _submitted(store)
    written = await _finalize(store, payment_id, revision, "req-1", "a1")
    assert written.delivered and written.record.delivered_to == "req-1" and written.record.attempt == "a1"
    held = await store.claim(_claim(payment_id, "req-2", "b1"))
    assert held.status is ClaimStatus.DELIVERED  # while req-1 holds it, a copy is a duplicate
    undone = await store.detach(DetachRequest(payment_id, "req-1", "a1"))
    assert undone.ok
    assert (undone.record.delivered_at, undone.record.delivered_to, undone.record.attached) == (0.0, "", "")
    assert undone.record.state is RecordState.SETTLED and undone.record.response.success
    await _retry_gets_it(store, payment_id)


async def test_finalize_and_detach_racing_leave_the_success_to_the_retry_in_either_order(store):
    """The worker's late finalize and its detach reach the ledger at the same moment (two ledger
    replicas would run them side by side): whichever write wins, the answered request holds nothing."""
    payments = [await _submitted(store) for _ in range(12)]
    for payment_id, revision in payments:
        finalized, let_go = await asyncio.gather(
            _finalize(store, payment_id, revision, "req-1", "a1"),
            store.detach(DetachRequest(payment_id, "req-1", "a1")),
        )
        assert finalized.ok and let_go.ok
        record, _ = await store.get(payment_id)
        assert record.state is RecordState.SETTLED
        assert (record.delivered_at, record.delivered_to, record.attached) == (0.0, "", "")
        await _retry_gets_it(store, payment_id)


async def test_only_the_attempt_holding_the_record_lets_it_go(store):
    payment_id, revision = await _submitted(store)
    written = await _finalize(store, payment_id, revision, "req-1", "a1")
    assert written.delivered
    for stranger in (DetachRequest(payment_id, "req-1", "a2"), DetachRequest(payment_id, "req-1", "")):
        assert (await store.detach(stranger)).ok  # it holds nothing: nothing to do
    assert (await store.detach(DetachRequest(payment_id, "", "a1"))).ok
    assert (await store.detach(DetachRequest(payment_id, "someone", "a1"))).ok
    kept, _ = await store.get(payment_id)
    assert kept.delivered_to == "req-1" and kept.attempt == "a1" and kept.delivered_at > 0


async def test_a_redelivered_request_carries_its_success_and_the_old_attempt_cannot_undo_it(store):
    """The work item of req-1 comes again (attempt a2): it now carries req-1's success; the first
    attempt, if it still runs, lets go of nothing, and a2 alone can give the success back."""
    payment_id, revision = await _submitted(store)
    assert (await _finalize(store, payment_id, revision, "req-1", "a1")).delivered
    again = await store.claim(_claim(payment_id, "req-1", "a2"))
    assert again.status is ClaimStatus.DELIVERED
    assert again.record.delivered_to == "req-1" and again.record.attempt == "a2"
    assert (await store.detach(DetachRequest(payment_id, "req-1", "a1"))).ok
    kept, _ = await store.get(payment_id)
    assert kept.delivered_to == "req-1" and kept.attempt == "a2"
    undone = await store.detach(DetachRequest(payment_id, "req-1", "a2"))
    assert undone.ok and undone.record.delivered_to == ""
    await _retry_gets_it(store, payment_id)


async def test_a_newer_attempt_takes_the_attachment_and_the_older_finalize_delivers_nothing(store):
    payment_id, revision = await _submitted(store)
    taken = await store.claim(_claim(payment_id, "req-1", "a2"))
    assert taken.status is ClaimStatus.ATTACHED and taken.record.attempt == "a2"
    stale = await _finalize(store, payment_id, revision, "req-1", "a1")
    assert stale.ok and not stale.delivered and stale.record.state is RecordState.SETTLED
    current = await _finalize(store, payment_id, stale.revision, "req-1", "a2")
    assert current.delivered and current.record.attempt == "a2"


async def test_a_copy_while_the_request_waits_is_busy_and_a_detached_one_is_taken_over(store):
    payment_id, _ = await _submitted(store)
    busy = await store.claim(_claim(payment_id, "req-2", "b1"))
    assert busy.status is ClaimStatus.BUSY
    assert (await store.detach(DetachRequest(payment_id, "req-1", "a1"))).ok
    taken = await store.claim(_claim(payment_id, "req-2", "b1"))
    assert taken.status is ClaimStatus.ATTACHED and taken.record.attached == "req-2"


async def test_a_failed_verdict_attaches_nobody_and_letting_go_afterwards_is_confirmed(store):
    payment_id, revision = await _submitted(store)
    failure = SettleResponse(
        success=False, transaction=f"0x{payment_id}", network="eip155:1", error_reason="settlement_failed"
    )
    failed = await store.finalize(FinalizeRequest(payment_id, revision, failure, "req-1", "a1"))
    assert failed.ok and not failed.delivered and failed.record.state is RecordState.FAILED
    assert failed.record.attached == "" and failed.record.attempt == ""
    assert (await store.detach(DetachRequest(payment_id, "req-1", "a1"))).ok
    again = await store.claim(_claim(payment_id, "req-2", "b1"))
    assert again.status is ClaimStatus.FAILED and again.record.response == failure


async def test_a_claim_with_its_transaction_creates_the_record_submitted_and_is_safe_to_repeat(store):
    """The claim records the prepared transaction (2.3, one round trip instead of claim + submit).
    The same attempt asking again (its answer was lost) gets the record it created, unchanged; any
    other attempt or request finds a submitted record it must not send for."""
    payment_id = f"pay-{uuid.uuid4().hex}"
    request = msgspec.structs.replace(_claim(payment_id, "req-1", "a1"), transaction="0xt1", hint="h1")
    first = await store.claim(request)
    assert first.status is ClaimStatus.CLAIMED and first.record is not None
    assert (first.record.state, first.record.transaction, first.record.hint) == (
        RecordState.SUBMITTED,
        "0xt1",
        "h1",
    )
    with pytest.raises(NotFoundError):  # listed for the reconcilers only once nobody works on it
        await store.pending.get(encode_key(payment_id))
    again = await store.claim(request)
    assert (again.status, again.revision, again.record) == (ClaimStatus.CLAIMED, first.revision, first.record)
    other_tx = await store.claim(msgspec.structs.replace(request, transaction="0xt2"))
    assert other_tx.status is ClaimStatus.ATTACHED and other_tx.record.transaction == "0xt1"
    newer = await store.claim(msgspec.structs.replace(request, attempt="a2"))  # the item came again
    assert newer.status is ClaimStatus.ATTACHED and newer.record.attempt == "a2"
    copy = await store.claim(msgspec.structs.replace(request, requester="req-2", attempt="b1"))
    assert copy.status is ClaimStatus.BUSY and copy.record.transaction == "0xt1"
    stale = await store.submit(SubmitRequest(payment_id, first.revision, "0xt1"))
    assert not stale.ok  # the first attempt, superseded, records nothing more
