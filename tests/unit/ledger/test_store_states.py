"""The ledger store's state table (docs/design.md, 3): every record state against every request a
worker can make, each answered as its row says: allowed -> the new state, forbidden -> refused and
the record unchanged. A record state or a request without a row fails the completeness test.

The buckets are in memory with JetStream KV's compare-and-set rules (create only when absent, update
and delete only at the current revision); what is checked is the store's decisions on top of them.
The same transitions on real JetStream are in tests/integration/foundation/test_ledger_let_go.py."""

import asyncio
import time
from dataclasses import dataclass
from enum import Enum

import msgspec
import pytest
from nats.js.errors import APIError, KeyWrongLastSequenceError, NotFoundError

from x402fac.bus import encode_key
from x402fac.ledger.config import LedgerConfig
from x402fac.ledger.store import WRONG_LAST_SEQUENCE, LedgerStore
from x402fac.protocol import SettleResponse
from x402fac.protocol.ledger import (
    ClaimRequest,
    ClaimStatus,
    DetachRequest,
    FinalizeRequest,
    RecordState,
    ReleaseReason,
    ReleaseRequest,
    SettlementRecord,
    SubmitRequest,
)

PAYMENT_ID = "evm/1/usdc/alice/7"
HOLDER, ATTEMPT = "holder", "a1"  # the request that holds the record, through this attempt
ABSENT = None  # no record: never claimed, or released


@dataclass
class _Entry:
    value: bytes
    revision: int


class MemoryBucket:
    """A KV bucket in memory, with JetStream's compare-and-set rules and one revision sequence."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.sequence = 0

    def _write(self, key: str, value: bytes) -> int:
        self.sequence += 1
        self.entries[key] = _Entry(value, self.sequence)
        return self.sequence

    async def create(self, key: str, value: bytes) -> int:
        if key in self.entries:
            raise KeyWrongLastSequenceError("key exists")
        return self._write(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if key not in self.entries or self.entries[key].revision != last:
            raise KeyWrongLastSequenceError("wrong last sequence")
        return self._write(key, value)

    async def put(self, key: str, value: bytes) -> int:
        return self._write(key, value)

    async def get(self, key: str) -> _Entry:
        if key not in self.entries:
            raise NotFoundError
        return self.entries[key]

    async def delete(self, key: str, last: int | None = None) -> None:
        if last is not None and (key not in self.entries or self.entries[key].revision != last):
            raise APIError(code=400, err_code=WRONG_LAST_SEQUENCE, description="wrong last sequence")
        self.entries.pop(key, None)


class MemoryIndex:
    """The pending index as a replica's watcher sees it: the pending bucket's keys, at once."""

    def __init__(self, bucket: MemoryBucket) -> None:
        self.bucket = bucket

    def holds(self, key: str) -> bool:
        return key in self.bucket.entries


def _store(shared: LedgerStore | None = None) -> LedgerStore:
    """A store on buckets in memory; with `shared`, another ledger replica on the same buckets."""
    store = LedgerStore(None, LedgerConfig(payer_settle_limit=0))  # type: ignore[arg-type]
    if shared is None:
        store.records, store.secondary, store.pending = MemoryBucket(), MemoryBucket(), MemoryBucket()
    else:
        store.records, store.secondary, store.pending = shared.records, shared.secondary, shared.pending
    store.pending_index = MemoryIndex(store.pending)  # type: ignore[assignment]
    return store


def _response(success: bool) -> SettleResponse:
    if success:
        return SettleResponse(success=True, transaction="0xtx", network="eip155:1", payer="alice", amount="5")
    return SettleResponse(
        success=False, transaction="0xtx", network="eip155:1", error_reason="transaction_reverted"
    )


async def _put(store: LedgerStore, state: RecordState | None) -> int:
    """A record in `state` as the pipeline leaves it, held by HOLDER (still waiting) through ATTEMPT
    unless final and failed; its revision (0 when absent)."""
    if state is ABSENT:
        return 0
    now = time.time()
    record = SettlementRecord(
        payment_id=PAYMENT_ID,
        family="evm",
        network="eip155:1",
        payer="alice",
        amount="5",
        state=state,
        created_at=now,
        updated_at=now,
        transaction="" if state is RecordState.CLAIMED else "0xtx",
        attached=HOLDER,
        attached_until=now + 30,
        attempt=ATTEMPT,
    )
    if state is RecordState.SETTLED:  # stored by the reconciler: not handed to anyone yet
        record.response = _response(True)
    if state is RecordState.FAILED:  # a stored failure ends every attachment
        record.response, record.attached, record.attached_until, record.attempt = (
            _response(False),
            "",
            0.0,
            "",
        )
    key = encode_key(PAYMENT_ID)
    if state in (RecordState.CLAIMED, RecordState.SUBMITTED):
        # Listed, as a record is once let go and taken over again: a verdict must take it off the list.
        await store.pending.put(key, b"evm")
    return await store.records.put(key, msgspec.json.encode(record))


def _claim(requester: str, attempt: str) -> ClaimRequest:
    return ClaimRequest(PAYMENT_ID, "evm", "eip155:1", "alice", "5", requester, time.time() + 30, attempt)


class Event(Enum):
    SUBMIT = "submit at the current revision"
    SUBMIT_STALE = "submit at an older revision"
    FINALIZE_SUCCESS = "finalize a success for the holder"
    FINALIZE_FAILURE = "finalize a failure for the holder"
    RELEASE = "release at the current revision"
    RELEASE_STALE = "release at an older revision"
    DETACH = "the holder lets go"
    DETACH_STRANGER = "a stranger asks to let go"
    CLAIM_COPY = "a copy claims while the holder waits"
    CLAIM_AFTER_LET_GO = "a copy claims after the holder let go"


async def _happen(store: LedgerStore, event: Event, revision: int) -> str:
    """Make `event` happen; "ok", "refused", or the claim status answered."""
    if event in (Event.SUBMIT, Event.SUBMIT_STALE):
        at = revision if event is Event.SUBMIT else revision - 1
        reply = await store.submit(SubmitRequest(PAYMENT_ID, at, "0xnew", "hint"))
    elif event in (Event.FINALIZE_SUCCESS, Event.FINALIZE_FAILURE):
        response = _response(event is Event.FINALIZE_SUCCESS)
        reply = await store.finalize(FinalizeRequest(PAYMENT_ID, revision, response, HOLDER, ATTEMPT))
    elif event in (Event.RELEASE, Event.RELEASE_STALE):
        at = revision if event is Event.RELEASE else revision - 1
        reply = await store.release(ReleaseRequest(PAYMENT_ID, at, ReleaseReason.INVALID))
    elif event in (Event.DETACH, Event.DETACH_STRANGER):
        who = HOLDER if event is Event.DETACH else "stranger"
        reply = await store.detach(DetachRequest(PAYMENT_ID, who, ATTEMPT))
    else:
        if event is Event.CLAIM_AFTER_LET_GO:
            assert (await store.detach(DetachRequest(PAYMENT_ID, HOLDER, ATTEMPT))).ok
        return (await store.claim(_claim("copy", "c1"))).status.value
    return "ok" if reply.ok else "refused"


@dataclass(frozen=True)
class After:
    answer: str  # "ok", "refused" or a claim status
    state: RecordState | None  # the record's state afterwards (ABSENT: deleted)
    holder_holds: bool  # HOLDER (through ATTEMPT) is still attached or has the success delivered


C, S, OK, NO = RecordState.CLAIMED, RecordState.SUBMITTED, RecordState.SETTLED, RecordState.FAILED
BUSY, ATTACHED, FAILED, CLAIMED = "busy", "attached", "failed", "claimed"


def _in_flight(state: RecordState) -> dict[tuple[RecordState | None, Event], After]:
    """The rows of claimed (verifying/preparing, no transaction yet) and submitted (the transaction is
    recorded and may be on its way): they answer alike, and a refused request leaves them as they are."""
    return {
        (state, Event.SUBMIT): After("ok", S, True),  # only the current revision's holder can
        (state, Event.SUBMIT_STALE): After("refused", state, True),
        (state, Event.FINALIZE_SUCCESS): After("ok", OK, True),  # delivered to the holder
        (state, Event.FINALIZE_FAILURE): After("ok", NO, False),
        (state, Event.RELEASE): After("ok", ABSENT, False),  # invalid, or the chain dropped it
        (state, Event.RELEASE_STALE): After("refused", state, True),
        (state, Event.DETACH): After("ok", state, False),
        (state, Event.DETACH_STRANGER): After("ok", state, True),  # nothing of the stranger's to let go
        (state, Event.CLAIM_COPY): After(BUSY, state, True),
        (state, Event.CLAIM_AFTER_LET_GO): After(ATTACHED, state, False),
    }


TABLE: dict[tuple[RecordState | None, Event], After] = {
    **_in_flight(C),
    **_in_flight(S),
    # settled: final; the stored success goes to one request at most
    (OK, Event.SUBMIT): After("refused", OK, True),
    (OK, Event.SUBMIT_STALE): After("refused", OK, True),
    (OK, Event.FINALIZE_SUCCESS): After("ok", OK, True),  # the verdict stays, delivered to the holder
    (OK, Event.FINALIZE_FAILURE): After("ok", OK, True),  # a later verdict never replaces it
    (OK, Event.RELEASE): After("refused", OK, True),
    (OK, Event.RELEASE_STALE): After("refused", OK, True),
    (OK, Event.DETACH): After("ok", OK, False),
    (OK, Event.DETACH_STRANGER): After("ok", OK, True),
    (OK, Event.CLAIM_COPY): After(BUSY, OK, True),
    (OK, Event.CLAIM_AFTER_LET_GO): After(ATTACHED, OK, False),
    # failed: final; every copy gets the stored failure
    (NO, Event.SUBMIT): After("refused", NO, False),
    (NO, Event.SUBMIT_STALE): After("refused", NO, False),
    (NO, Event.FINALIZE_SUCCESS): After("ok", NO, False),
    (NO, Event.FINALIZE_FAILURE): After("ok", NO, False),
    (NO, Event.RELEASE): After("refused", NO, False),
    (NO, Event.RELEASE_STALE): After("refused", NO, False),
    (NO, Event.DETACH): After("ok", NO, False),
    (NO, Event.DETACH_STRANGER): After("ok", NO, False),
    (NO, Event.CLAIM_COPY): After(FAILED, NO, False),
    (NO, Event.CLAIM_AFTER_LET_GO): After(FAILED, NO, False),
    # absent: nothing to move; a claim creates the record
    (ABSENT, Event.SUBMIT): After("refused", ABSENT, False),
    (ABSENT, Event.SUBMIT_STALE): After("refused", ABSENT, False),
    (ABSENT, Event.FINALIZE_SUCCESS): After("refused", ABSENT, False),
    (ABSENT, Event.FINALIZE_FAILURE): After("refused", ABSENT, False),
    (ABSENT, Event.RELEASE): After("refused", ABSENT, False),
    (ABSENT, Event.RELEASE_STALE): After("refused", ABSENT, False),
    (ABSENT, Event.DETACH): After("ok", ABSENT, False),
    (ABSENT, Event.DETACH_STRANGER): After("ok", ABSENT, False),
    (ABSENT, Event.CLAIM_COPY): After(CLAIMED, C, False),
    (ABSENT, Event.CLAIM_AFTER_LET_GO): After(CLAIMED, C, False),
}


def test_every_state_meets_every_event_in_the_table():
    states = [*RecordState, ABSENT]
    assert set(TABLE) == {(state, event) for state in states for event in Event}


@pytest.mark.parametrize(
    ("state", "event"),
    list(TABLE),
    ids=[f"{state or 'absent'}-{event.name.lower()}" for state, event in TABLE],
)
async def test_transition(state: RecordState | None, event: Event):
    store = _store()
    revision = await _put(store, state)
    before = store.records.entries.get(encode_key(PAYMENT_ID))
    expected = TABLE[(state, event)]
    answer = await _happen(store, event, revision)
    if store._background:
        await asyncio.gather(*store._background)
    found = await store.get(PAYMENT_ID)
    record = found[0] if found else None
    holds = (
        record is not None and HOLDER in (record.attached, record.delivered_to) and record.attempt == ATTEMPT
    )
    assert (answer, record.state if record else ABSENT, holds) == (
        expected.answer,
        expected.state,
        expected.holder_holds,
    )
    if answer == "refused" and before is not None:  # a refusal writes nothing
        assert store.records.entries[encode_key(PAYMENT_ID)] == before
    if record is None or record.state not in (RecordState.SETTLED, RecordState.FAILED):
        return
    # One success at most: a final record never names two receivers, and is out of the pending index.
    assert not (record.delivered_to and record.attached and record.attached != record.delivered_to)
    assert encode_key(PAYMENT_ID) not in store.pending.entries


async def test_a_delivered_success_goes_to_nobody_else():
    """After finalize handed the success to the holder, every copy hears it was delivered, and a
    second finalize for a stranger delivers nothing."""
    store = _store()
    revision = await _put(store, S)
    finalized = await store.finalize(FinalizeRequest(PAYMENT_ID, revision, _response(True), HOLDER, ATTEMPT))
    assert finalized.delivered and finalized.record.delivered_to == HOLDER
    copy = await store.claim(_claim("copy", "c1"))
    assert copy.status is ClaimStatus.DELIVERED and copy.record.delivered_to == HOLDER
    again = await store.finalize(FinalizeRequest(PAYMENT_ID, 0, _response(True), "stranger", "s1"))
    assert again.ok and not again.delivered and again.record.delivered_to == HOLDER


MEMO = "memo/solana:devnet/seller/invoice-7"  # one purchase per memo and payTo


def _memo_claim(payment_id: str, requester: str, attempt: str) -> ClaimRequest:
    claim = _claim(requester, attempt)
    claim.payment_id, claim.secondary_keys = payment_id, [MEMO]
    return claim


def _memo_holder(store: LedgerStore) -> bytes | None:
    entry = store.secondary.entries.get(encode_key(MEMO))
    return entry.value if entry else None


async def test_a_second_payment_for_a_held_secondary_key_is_a_duplicate_and_leaves_no_record():
    store = _store()
    first = await store.claim(_memo_claim("pay-1", "r1", "a1"))
    assert first.status is ClaimStatus.CLAIMED and _memo_holder(store) == b"pay-1"
    second = await store.claim(_memo_claim("pay-2", "r2", "a2"))
    assert second.status is ClaimStatus.DUPLICATE
    assert await store.get("pay-2") is None and encode_key("pay-2") not in store.pending.entries
    assert _memo_holder(store) == b"pay-1"  # the refused payment took nothing from the first


async def test_copies_keep_a_live_payment_s_key_and_take_none_for_a_failed_one():
    """A copy's claim takes the secondary keys beside the record's create, like the first claim: the
    key stays the payment's while it may settle, and a payment that failed holds none, whoever asks."""
    store = _store()
    claimed = await store.claim(_memo_claim("pay-1", "r1", "a1"))
    copy = await store.claim(_memo_claim("pay-1", "r2", "a2"))
    assert copy.status is ClaimStatus.BUSY and _memo_holder(store) == b"pay-1"
    submitted = await store.submit(SubmitRequest("pay-1", claimed.revision, "0xtx"))
    await store.finalize(FinalizeRequest("pay-1", submitted.revision, _response(False), "r1", "a1"))
    assert _memo_holder(store) is None  # a failure lets its keys go
    late_copy = await store.claim(_memo_claim("pay-1", "r3", "a3"))
    assert late_copy.status is ClaimStatus.FAILED and _memo_holder(store) is None
    other = await store.claim(_memo_claim("pay-2", "r4", "a4"))  # the purchase may be paid afresh
    assert other.status is ClaimStatus.CLAIMED and _memo_holder(store) == b"pay-2"


async def test_a_claim_refused_by_the_payer_limit_lets_its_secondary_keys_go():
    store = _store()

    async def over_the_limit(_request: ClaimRequest) -> int:
        return 30

    store._over_payer_limit = over_the_limit  # type: ignore[method-assign]
    refused = await store.claim(_memo_claim("pay-1", "r1", "a1"))
    assert refused.status is ClaimStatus.RATE_LIMITED
    assert await store.get("pay-1") is None and _memo_holder(store) is None


async def test_a_secondary_key_whose_taking_was_unclear_is_asked_again():
    store = _store()
    real_create, calls = store.secondary.create, []

    async def lost_once(key: str, value: bytes) -> int:
        calls.append(key)
        if len(calls) == 1:
            await real_create(key, value)  # stored, but its acknowledgement is lost
            raise TimeoutError
        return await real_create(key, value)

    store.secondary.create = lost_once  # type: ignore[method-assign]
    claimed = await store.claim(_memo_claim("pay-1", "r1", "a1"))
    assert claimed.status is ClaimStatus.CLAIMED and _memo_holder(store) == b"pay-1"
    assert len(calls) == 2


KEY = encode_key(PAYMENT_ID)


async def test_a_settle_writes_nothing_to_the_pending_index():
    """The index lists records nobody works on: a claim, a submit and a finalize write none of it."""
    store = _store()
    claimed = await store.claim(_claim(HOLDER, ATTEMPT))
    submitted = await store.submit(SubmitRequest(PAYMENT_ID, claimed.revision, "0xtx"))
    await store.finalize(FinalizeRequest(PAYMENT_ID, submitted.revision, _response(True), HOLDER, ATTEMPT))
    assert store.pending.sequence == 0 and not store._attached


async def test_a_payment_let_go_unfinished_is_listed_and_its_verdict_unlists_it():
    store = _store()
    claimed = await store.claim(_claim(HOLDER, ATTEMPT))
    submitted = await store.submit(SubmitRequest(PAYMENT_ID, claimed.revision, "0xtx"))
    assert not store.pending.entries
    # A stranger letting go changes nothing and lists nothing.
    assert (await store.detach(DetachRequest(PAYMENT_ID, "stranger", "s1"))).ok
    assert not store.pending.entries
    # Its attempt answered pending: the record waits for the reconciler (or a retry).
    let_go = await store.detach(DetachRequest(PAYMENT_ID, HOLDER, ATTEMPT))
    assert let_go.ok and store.pending.entries[KEY].value == b"evm" and not store._attached
    await store.finalize(FinalizeRequest(PAYMENT_ID, let_go.revision, _response(True)))
    await asyncio.gather(*store._background)
    assert KEY not in store.pending.entries
    assert submitted.ok


async def test_a_payment_whose_attempt_died_is_listed_once_overdue():
    """Nobody lets go of a payment whose worker died and whose work item never came again: the replica
    that attached the attempt lists it once past the attempt's deadline, and not before."""
    store = _store()
    claimed = await store.claim(_claim(HOLDER, ATTEMPT))
    deadline = claimed.record.attached_until
    assert await store.index_overdue(now=deadline) == 0 and not store.pending.entries
    assert await store.index_overdue(now=deadline + 3600) == 1
    assert store.pending.entries[KEY].value == b"evm" and not store._attached
    assert await store.index_overdue(now=deadline + 7200) == 0  # listed once


async def test_the_overdue_pass_lists_nothing_finished_or_taken_over_through_another_replica():
    first = _store()
    second = _store(shared=first)
    claimed = await first.claim(_claim(HOLDER, ATTEMPT))
    deadline = claimed.record.attached_until
    # Finished through the other replica: this one only forgets it.
    await second.finalize(FinalizeRequest(PAYMENT_ID, claimed.revision, _response(True), HOLDER, ATTEMPT))
    assert await first.index_overdue(now=deadline + 3600) == 0
    assert not first.pending.entries and not first._attached
    # Taken over through the other replica by a retry that still waits: listed only if it dies too.
    other = "evm/2/usdc/bob/1"
    retried = msgspec.structs.replace(_claim(HOLDER, ATTEMPT), payment_id=other, deadline=time.time() - 60)
    await first.claim(retried)
    retry = msgspec.structs.replace(retried, requester="retry", attempt="r1", deadline=time.time() + 30)
    taken = await second.claim(retry)
    assert taken.status is ClaimStatus.ATTACHED
    assert await first.index_overdue() == 0 and not first.pending.entries
    assert first._attached[other] == taken.record.attached_until + 5.0
