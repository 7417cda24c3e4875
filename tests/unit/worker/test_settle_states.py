"""The settle pipeline, one test per claim status the ledger can answer (docs/settle-path.md, "Claim
statuses"). The ledger and the chain are doubles that record every call: what is checked is the
pipeline's decisions (what it answers, what it writes, what it sends, what it lets go)."""

import time

import pytest

from x402fac.bus import BusTimeout, HandOff
from x402fac.protocol import PaymentPayload, PaymentRequirements, Reason, SettleResponse, VerifyRequest
from x402fac.protocol.ledger import (
    ClaimReply,
    ClaimStatus,
    PaymentFacts,
    RecordState,
    ReleaseReason,
    SettlementRecord,
    UpdateReply,
)
from x402fac.worker import (
    Confirmation,
    Identity,
    Invalid,
    Outcome,
    Prepared,
    Scheme,
    Submitted,
    SupportedPart,
)
from x402fac.worker.pipeline import Pipeline
from x402fac.worker.requester import Requester
from x402fac.worker.settle_states import HANDLERS, Superseded

NETWORK = "eip155:999001"
PAYMENT_ID = "test/p1"
TX = "0xpaid"
FACTS = PaymentFacts(PAYMENT_ID, "evm", NETWORK, "alice", "5")


def _request() -> VerifyRequest:
    requirements = PaymentRequirements(
        scheme="exact", network=NETWORK, amount="5", pay_to="bob", asset="TEST", max_timeout_seconds=5
    )
    payload = PaymentPayload(x402_version=2, accepted=requirements, payload={})
    return VerifyRequest(payment_payload=payload, payment_requirements=requirements)


def _record(state: RecordState = RecordState.SUBMITTED, **changes) -> SettlementRecord:
    transaction = "" if state is RecordState.CLAIMED else TX
    # Written before the owner's window: the chain's word counts.
    return FACTS.record(state, time.time() - 100, **({"transaction": transaction} | changes))


def _paid(transaction: str = TX) -> SettleResponse:
    return SettleResponse(success=True, transaction=transaction, network=NETWORK, payer="alice", amount="5")


class Journal(list):
    """Every call the doubles saw, in order: ("ledger.submit", ...), ("chain.broadcast", ...)."""

    def names(self) -> list[str]:
        return [call[0] for call in self]

    def beyond_reads(self) -> list[str]:
        """The calls but the read-only checks, which may run beside the claim for a new payment."""
        return [name for name in self.names() if name != "chain.verify"]


class Chain(Scheme):
    """A chain that confirms whatever is sent (or does what a test tells it to)."""

    def __init__(self, journal: Journal, prepare_raises: Exception | None = None) -> None:
        self.journal = journal
        self.prepare_raises = prepare_raises
        self.verdict = Outcome(Confirmation.CONFIRMED)

    def networks(self) -> list[str]:
        return [NETWORK]

    def supported(self) -> SupportedPart:
        return SupportedPart()

    async def identify(self, request: VerifyRequest) -> Identity[None]:
        return Identity(payment_id=PAYMENT_ID, payer="alice", amount="5", payment=None)

    async def verify(self, request: VerifyRequest, identity: Identity[None]) -> None:
        self.journal.append(("chain.verify",))

    async def prepare(self, request, identity, checked=None) -> Prepared[None]:
        self.journal.append(("chain.prepare",))
        if self.prepare_raises is not None:
            raise self.prepare_raises
        return Prepared(transaction=TX, network=NETWORK, attempt=None, hint="h1")

    async def discard(self, prepared: Prepared[None]) -> None:
        self.journal.append(("chain.discard", prepared.transaction))

    async def broadcast(self, prepared: Prepared[None]) -> None:
        self.journal.append(("chain.broadcast", prepared.transaction))

    async def confirm(self, prepared: Prepared[None], timeout: float) -> Outcome:
        self.journal.append(("chain.confirm", prepared.transaction))
        return self.verdict

    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        self.journal.append(("chain.resolve", submitted))
        return self.verdict

    async def close(self) -> None:
        pass


class Ledger:
    """Answers the claim with the status under test; finalize delivers a success to the requester
    named in the call, as the ledger does for the attempt attached."""

    def __init__(self, journal: Journal, claim: ClaimReply, submit_refused_by: str = "") -> None:
        self.journal = journal
        self.claim_reply = claim
        self.submit_refused_by = submit_refused_by  # "": submit succeeds; else the record's holder
        self.looked_up: SettlementRecord | None = None
        self.records_transactions = True  # a new record holds the transaction its claim carried
        self.claimed_with: list[tuple[str, str]] = []  # (transaction, hint) of every claim

    async def claim(
        self, identity, family, network, requester, deadline, attempt="", transaction="", hint=""
    ) -> ClaimReply:
        self.journal.append(("ledger.claim", requester, attempt))
        self.claimed_with.append((transaction, hint))
        reply = self.claim_reply
        if reply.status is ClaimStatus.CLAIMED and transaction and self.records_transactions:
            created = _record(
                RecordState.SUBMITTED, transaction=transaction, hint=hint, attached=requester, attempt=attempt
            )
            return ClaimReply(ClaimStatus.CLAIMED, revision=reply.revision, record=created)
        return reply

    async def submit(self, payment_id, revision, transaction, hint="") -> UpdateReply:
        self.journal.append(("ledger.submit", transaction, hint))
        if self.submit_refused_by:
            held = _record(RecordState.CLAIMED, attached=self.submit_refused_by)
            return UpdateReply(ok=False, revision=revision + 5, record=held)
        return UpdateReply(ok=True, revision=revision + 1, record=_record())

    async def finalize(self, payment_id, revision, response, requester="", until=0.0, attempt=""):
        self.journal.append(("ledger.finalize", response.success, requester))
        delivered = response.success and bool(requester)
        state = RecordState.SETTLED if response.success else RecordState.FAILED
        record = _record(
            state,
            response=response,
            delivered_to=requester if delivered else "",
            delivered_at=time.time() if delivered else 0.0,
            attempt=attempt if delivered else "",
        )
        return UpdateReply(ok=True, revision=revision + 1, record=record, delivered=delivered)

    async def release(self, payment_id, revision, reason: ReleaseReason) -> UpdateReply:
        self.journal.append(("ledger.release", reason))
        return UpdateReply(ok=True)

    async def detach(self, payment_id, requester, attempt="", until=0.0) -> bool:
        self.journal.append(("ledger.detach", requester, attempt))
        return True

    async def lookup(self, payment_id) -> UpdateReply:
        self.journal.append(("ledger.lookup",))
        return UpdateReply(ok=True, revision=9, record=self.looked_up)


class Nats:
    """Takes the audit publish and drops it."""

    async def publish(self, subject, payload, headers=None) -> None:
        pass


def _pipeline(
    claim: ClaimReply, seen: bool = False, **chain_options
) -> tuple[Pipeline, Ledger, Chain, Journal]:
    """The pipeline over the doubles; `seen`: the payment was settled here lately (a copy, most
    likely), so it is claimed before any chain work."""
    journal = Journal()
    ledger = Ledger(journal, claim)
    chain = Chain(journal, **chain_options)
    pipeline = Pipeline(Nats(), "evm", [chain], ledger=ledger)  # type: ignore[arg-type]
    if seen:
        pipeline._seen_lately(PAYMENT_ID)
    return pipeline, ledger, chain, journal


CHAIN_WRITES = {"chain.broadcast"}


def _sent_nothing(journal: Journal) -> bool:
    """Nothing broadcast, and a transaction prepared meanwhile dropped unsent (its nonce is free)."""
    names = journal.names()
    return "chain.broadcast" not in names and (
        "chain.prepare" not in names or ("chain.discard", TX) in journal
    )


def _in_order(names: list[str], *steps: str) -> None:
    """Each of `steps` happened, in this order (by its first time)."""
    positions = [names.index(step) for step in steps]
    assert positions == sorted(positions), names


async def _settled_from_a_record_without_its_transaction(
    seen: bool = False, records_transactions: bool = True, prepare_reserves: bool = False
) -> tuple[list[str], Ledger, Journal]:
    """A settle whose claim answers `claimed` with a record not holding the transaction (yet): it
    succeeds; the steps' names, the ledger double and the journal."""
    pipeline, ledger, chain, journal = _pipeline(
        ClaimReply(ClaimStatus.CLAIMED, revision=1, record=_record(RecordState.CLAIMED)), seen=seen
    )
    ledger.records_transactions = records_transactions
    chain.prepare_reserves = prepare_reserves
    answer = await pipeline.settle(_request(), Requester.new())
    assert answer.success is True
    return journal.names(), ledger, journal


# ---- claimed: the first attempt ----------------------------------------------------------------


async def test_a_new_payment_s_claim_records_its_transaction_before_broadcasting_and_gets_the_success():
    pipeline, ledger, _, journal = _pipeline(ClaimReply(ClaimStatus.CLAIMED, revision=1, record=_record()))
    requester = Requester.new()
    answer = await pipeline.settle(_request(), requester)
    assert answer.success is True and answer.transaction == TX
    names = journal.names()
    _in_order(names, "chain.prepare", "ledger.claim", "chain.broadcast", "ledger.finalize")
    assert ledger.claimed_with == [(TX, "h1")]  # recorded by the claim: one ledger round trip fewer
    assert "ledger.submit" not in names
    assert ("ledger.finalize", True, requester.id) in journal
    assert "ledger.detach" not in names  # its success: nothing to let go
    assert requester.holds


async def test_a_payment_seen_lately_is_claimed_first_and_records_its_transaction_by_submit():
    names, ledger, journal = await _settled_from_a_record_without_its_transaction(seen=True)
    _in_order(names, "ledger.claim", "chain.prepare", "ledger.submit", "chain.broadcast")
    assert ledger.claimed_with == [("", "")] and ("ledger.submit", TX, "h1") in journal


async def test_a_claim_whose_record_does_not_hold_the_transaction_submits_it_before_broadcasting():
    """A ledger that created the record without the transaction (one that does not take it with the
    claim): nothing is sent before the transaction is recorded."""
    names, _, _ = await _settled_from_a_record_without_its_transaction(records_transactions=False)
    _in_order(names, "ledger.claim", "ledger.submit", "chain.broadcast")
    assert names.count("chain.prepare") == 1  # the transaction prepared before the claim is the one sent


async def test_a_claim_unanswered_is_made_again_and_finds_its_own_record():
    """A claim whose reply was lost may have created the record with the transaction: made again by
    the same attempt, the ledger answers `claimed` with that record, and what it holds is sent once."""
    requester = Requester.new()
    pipeline, ledger, _, journal = _pipeline(ClaimReply(ClaimStatus.CLAIMED, revision=6, record=_record()))
    answers = iter([BusTimeout("x402.ledger.claim")])
    real_claim = ledger.claim

    async def lost_once(*args, **kwargs) -> ClaimReply:
        failure = next(answers, None)
        reply = await real_claim(*args, **kwargs)
        if failure is not None:
            raise failure
        return reply

    ledger.claim = lost_once  # type: ignore[method-assign]
    answer = await pipeline.settle(_request(), requester)
    assert answer.success is True
    assert journal.names().count("ledger.claim") == 2 and journal.names().count("chain.broadcast") == 1
    assert "chain.resolve" not in journal.names() and "ledger.submit" not in journal.names()


async def test_a_record_an_earlier_attempt_submitted_with_the_same_transaction_is_resolved_not_sent():
    """A redelivered request (a new attempt) that prepares the very transaction its earlier attempt
    recorded (a payer-signed one, as on Nano) takes the record over: the chain says what became of
    it; nothing is sent again."""
    requester = Requester.new()
    # The ledger's answer: the earlier attempt's record (holding TX), now held through this attempt.
    taken = _record(RecordState.SUBMITTED, hint="h1", attached=requester.id, attempt=requester.attempt)
    pipeline, ledger, _, journal = _pipeline(ClaimReply(ClaimStatus.ATTACHED, revision=6, record=taken))
    answer = await pipeline.settle(_request(), requester)
    assert answer.success is True and ledger.claimed_with == [(TX, "h1")]
    assert ("chain.resolve", Submitted(TX, NETWORK, "h1")) in journal and _sent_nothing(journal)


async def test_a_copy_not_seen_here_lately_drops_what_it_prepared_unsent():
    record = _record(RecordState.SUBMITTED, attached="first", attached_until=time.time() + 30)
    pipeline, _, _, journal = _pipeline(ClaimReply(ClaimStatus.BUSY, revision=2, record=record))
    answer = await pipeline.settle(_request(), Requester.new())
    assert (answer.error_reason, answer.transaction) == (Reason.DUPLICATE_SETTLEMENT, TX)
    assert journal.beyond_reads() == ["chain.prepare", "ledger.claim", "chain.discard"]


async def test_a_scheme_whose_prepare_reserves_claims_first_so_a_copy_prepares_nothing():
    """An EVM prepare takes a signer nonce; one a copy dropped would leave a gap we pay gas to fill."""
    record = _record(RecordState.SUBMITTED, attached="first", attached_until=time.time() + 30)
    pipeline, _, chain, journal = _pipeline(ClaimReply(ClaimStatus.BUSY, revision=2, record=record))
    chain.prepare_reserves = True
    answer = await pipeline.settle(_request(), Requester.new())
    assert (answer.error_reason, answer.transaction) == (Reason.DUPLICATE_SETTLEMENT, TX)
    assert journal.beyond_reads() == ["ledger.claim"]


async def test_a_new_payment_whose_prepare_reserves_is_claimed_then_submitted():
    names, ledger, _ = await _settled_from_a_record_without_its_transaction(prepare_reserves=True)
    _in_order(names, "ledger.claim", "chain.prepare", "ledger.submit", "chain.broadcast")
    assert ledger.claimed_with == [("", "")]


def test_the_evm_schemes_claim_before_they_prepare():
    from x402fac.worker_evm.exact import ExactEvmScheme
    from x402fac.worker_evm.upto import UptoEvmScheme

    assert ExactEvmScheme.prepare_reserves and UptoEvmScheme.prepare_reserves


async def test_claimed_but_invalid_releases_the_claim_and_lets_go():
    refusal = Invalid("insufficient_funds", "no money")
    pipeline, _, _, journal = _pipeline(
        ClaimReply(ClaimStatus.CLAIMED, revision=1, record=_record()), prepare_raises=refusal
    )
    requester = Requester.new()
    answer = await pipeline.settle(_request(), requester)
    assert (answer.success, answer.error_reason, answer.transaction) == (False, "insufficient_funds", "")
    assert ("ledger.release", ReleaseReason.INVALID) in journal
    assert "chain.broadcast" not in journal.names() and "ledger.submit" not in journal.names()
    assert ("ledger.detach", requester.id, requester.attempt) in journal
    assert not requester.holds  # the ledger confirmed


async def test_a_new_payment_this_replica_cannot_sign_hands_off_with_nothing_claimed():
    pipeline, _, _, journal = _pipeline(
        ClaimReply(ClaimStatus.CLAIMED, revision=1, record=_record()),
        prepare_raises=HandOff("no signer key here now"),
    )
    with pytest.raises(HandOff):
        await pipeline.settle(_request(), Requester.new())
    assert "ledger.claim" not in journal.names() and "chain.broadcast" not in journal.names()


async def test_claimed_but_this_replica_cannot_sign_hands_off_with_the_claim_released():
    pipeline, _, _, journal = _pipeline(
        ClaimReply(ClaimStatus.CLAIMED, revision=1, record=_record(RecordState.CLAIMED)),
        seen=True,
        prepare_raises=HandOff("no signer key here now"),
    )
    with pytest.raises(HandOff):
        await pipeline.settle(_request(), Requester.new())
    assert ("ledger.release", ReleaseReason.HANDED_OFF) in journal
    assert "chain.broadcast" not in journal.names() and "ledger.submit" not in journal.names()


async def test_claimed_but_the_submit_is_refused_broadcasts_nothing():
    """The record moved on (a copy took it over): nothing is sent; the copy's holder answers."""
    pipeline, ledger, _, journal = _pipeline(
        ClaimReply(ClaimStatus.CLAIMED, revision=1, record=_record(RecordState.CLAIMED)), seen=True
    )
    ledger.submit_refused_by = "someone-else"
    answer = await pipeline.settle(_request(), Requester.new())
    assert answer.error_reason == Reason.DUPLICATE_SETTLEMENT
    assert ("chain.discard", TX) in journal and "chain.broadcast" not in journal.names()


async def test_claimed_but_a_newer_attempt_of_the_same_request_took_it_stays_silent():
    pipeline, ledger, _, journal = _pipeline(
        ClaimReply(ClaimStatus.CLAIMED, revision=1, record=_record(RecordState.CLAIMED)), seen=True
    )
    requester = Requester.new()
    ledger.submit_refused_by = requester.id
    with pytest.raises(Superseded):
        await pipeline.settle(_request(), requester)
    assert "chain.broadcast" not in journal.names()


# ---- attached: a take-over ---------------------------------------------------------------------


async def test_attached_to_a_submitted_record_resolves_it_from_the_chain_never_sends_again():
    record = _record(RecordState.SUBMITTED, hint="h0")
    pipeline, _, _, journal = _pipeline(ClaimReply(ClaimStatus.ATTACHED, revision=4, record=record))
    requester = Requester.new()
    answer = await pipeline.settle(_request(), requester)
    assert answer.success is True and answer.transaction == TX
    assert ("chain.resolve", Submitted(TX, NETWORK, "h0")) in journal
    assert _sent_nothing(journal)
    assert ("ledger.finalize", True, requester.id) in journal and requester.holds


async def test_attached_to_a_settled_record_hands_out_the_stored_success_without_the_chain():
    record = _record(RecordState.SETTLED, response=_paid())
    pipeline, _, _, journal = _pipeline(ClaimReply(ClaimStatus.ATTACHED, revision=4, record=record))
    answer = await pipeline.settle(_request(), Requester.new())
    assert answer.success is True and answer.transaction == TX
    assert _sent_nothing(journal) and "chain.resolve" not in journal.names()


@pytest.mark.parametrize("seen", [False, True])
async def test_attached_to_a_record_still_claimed_is_a_first_attempt(seen: bool):
    record = _record(RecordState.CLAIMED)
    pipeline, _, _, journal = _pipeline(ClaimReply(ClaimStatus.ATTACHED, revision=4, record=record), seen)
    answer = await pipeline.settle(_request(), Requester.new())
    assert answer.success is True
    names = journal.names()
    assert names.index("ledger.submit") < names.index("chain.broadcast")  # fences off the earlier owner
    assert names.count("chain.prepare") == 1


async def test_attached_to_a_transaction_the_chain_dropped_releases_the_claim():
    pipeline, _, chain, journal = _pipeline(
        ClaimReply(ClaimStatus.ATTACHED, revision=4, record=_record(RecordState.SUBMITTED))
    )
    chain.verdict = Outcome(Confirmation.DROPPED, "transaction_expired", "gone")
    answer = await pipeline.settle(_request(), Requester.new())
    assert (answer.success, answer.error_reason) == (False, "transaction_expired")
    assert ("ledger.release", ReleaseReason.DROPPED) in journal


# ---- busy, delivered: copies -------------------------------------------------------------------


async def test_busy_is_a_duplicate_naming_the_paying_transaction():
    record = _record(RecordState.SUBMITTED, attached="first", attached_until=time.time() + 30)
    pipeline, _, _, journal = _pipeline(ClaimReply(ClaimStatus.BUSY, revision=2, record=record), seen=True)
    requester = Requester.new()
    answer = await pipeline.settle(_request(), requester)
    assert (answer.error_reason, answer.transaction) == (Reason.DUPLICATE_SETTLEMENT, TX)
    assert journal.beyond_reads() == ["ledger.claim"]  # no chain call, nothing written, nothing to let go
    assert not requester.holds


async def test_busy_before_the_holder_recorded_its_transaction_waits_for_it():
    pipeline, ledger, _, journal = _pipeline(
        ClaimReply(ClaimStatus.BUSY, revision=2, record=_record(RecordState.CLAIMED, attached="first"))
    )
    ledger.looked_up = _record(RecordState.SUBMITTED, attached="first")
    answer = await pipeline.settle(_request(), Requester.new())
    assert (answer.error_reason, answer.transaction) == (Reason.DUPLICATE_SETTLEMENT, TX)
    assert "ledger.lookup" in journal.names()
    assert not CHAIN_WRITES & set(journal.names())  # the read-only checks may have run beside the claim


async def test_delivered_to_another_request_is_a_duplicate():
    record = _record(RecordState.SETTLED, response=_paid(), delivered_to="first", delivered_at=time.time())
    pipeline, _, _, journal = _pipeline(
        ClaimReply(ClaimStatus.DELIVERED, revision=3, record=record), seen=True
    )
    answer = await pipeline.settle(_request(), Requester.new())
    assert answer.success is False and answer.error_reason == Reason.DUPLICATE_SETTLEMENT
    assert answer.transaction == TX and "already settled" in answer.error_message
    assert journal.beyond_reads() == ["ledger.claim"]


async def test_delivered_to_this_very_attempt_is_its_success_carried_again():
    requester = Requester.new()
    record = _record(
        RecordState.SETTLED,
        response=_paid(),
        delivered_to=requester.id,
        delivered_at=time.time(),
        attempt=requester.attempt,
    )
    pipeline, _, _, journal = _pipeline(
        ClaimReply(ClaimStatus.DELIVERED, revision=3, record=record), seen=True
    )
    answer = await pipeline.settle(_request(), requester)
    assert answer.success is True and answer.transaction == TX
    assert requester.holds  # this attempt carries it: it must let go if the answer is not taken
    assert journal.beyond_reads() == ["ledger.claim"]


async def test_delivered_to_this_request_through_an_older_attempt_is_not_this_attempts():
    """A stale attempt of the same request never gets a success a newer attempt carries."""
    requester = Requester.new()
    record = _record(
        RecordState.SETTLED, response=_paid(), delivered_to=requester.id, delivered_at=1.0, attempt="newer"
    )
    pipeline, _, _, _ = _pipeline(ClaimReply(ClaimStatus.DELIVERED, revision=3, record=record))
    answer = await pipeline.settle(_request(), requester)
    assert answer.success is False and answer.error_reason == Reason.DUPLICATE_SETTLEMENT


# ---- failed, rate_limited, duplicate: refusals -------------------------------------------------


async def test_failed_is_the_stored_failure():
    stored = SettleResponse(
        success=False, transaction=TX, network=NETWORK, payer="alice", error_reason="transaction_reverted"
    )
    record = _record(RecordState.FAILED, response=stored)
    pipeline, _, _, journal = _pipeline(ClaimReply(ClaimStatus.FAILED, revision=3, record=record), seen=True)
    answer = await pipeline.settle(_request(), Requester.new())
    assert answer == stored
    assert journal.beyond_reads() == ["ledger.claim"]


async def test_rate_limited_says_when_to_retry_and_claims_nothing():
    pipeline, _, _, journal = _pipeline(ClaimReply(ClaimStatus.RATE_LIMITED, retry_after=17))
    answer = await pipeline.settle(_request(), Requester.new())
    assert (answer.success, answer.error_reason, answer.transaction) == (False, Reason.RATE_LIMITED, "")
    assert "17s" in answer.error_message
    assert journal.beyond_reads() == ["chain.prepare", "ledger.claim", "chain.discard"]


async def test_duplicate_secondary_key_is_a_duplicate_settlement():
    pipeline, _, _, journal = _pipeline(ClaimReply(ClaimStatus.DUPLICATE))
    answer = await pipeline.settle(_request(), Requester.new())
    assert (answer.success, answer.error_reason) == (False, Reason.DUPLICATE_SETTLEMENT)
    assert "another payment" in answer.error_message
    assert journal.beyond_reads() == ["chain.prepare", "ledger.claim", "chain.discard"]


# ---- the table itself --------------------------------------------------------------------------

# What each claim status answers when the record is plain: a new status needs a row here, a handler
# in settle_states.HANDLERS and a line in docs/settle-path.md.
ANSWER_OF = {
    ClaimStatus.CLAIMED: (True, None),
    ClaimStatus.ATTACHED: (True, None),
    ClaimStatus.BUSY: (False, Reason.DUPLICATE_SETTLEMENT),
    ClaimStatus.DELIVERED: (False, Reason.DUPLICATE_SETTLEMENT),
    ClaimStatus.FAILED: (False, Reason.SETTLEMENT_FAILED),
    ClaimStatus.RATE_LIMITED: (False, Reason.RATE_LIMITED),
    ClaimStatus.DUPLICATE: (False, Reason.DUPLICATE_SETTLEMENT),
}


def test_every_claim_status_has_one_handler_and_one_row():
    assert set(HANDLERS) == set(ClaimStatus) == set(ANSWER_OF)


@pytest.mark.parametrize("status", list(ClaimStatus))
async def test_each_claim_status_answers_as_its_row_says(status: ClaimStatus):
    record = {
        ClaimStatus.CLAIMED: _record(RecordState.CLAIMED),
        ClaimStatus.ATTACHED: _record(RecordState.SUBMITTED),
        ClaimStatus.BUSY: _record(RecordState.SUBMITTED, attached="first"),
        ClaimStatus.DELIVERED: _record(RecordState.SETTLED, response=_paid(), delivered_to="first"),
        ClaimStatus.FAILED: _record(
            RecordState.FAILED,
            response=SettleResponse(
                success=False, transaction=TX, network=NETWORK, error_reason=Reason.SETTLEMENT_FAILED
            ),
        ),
    }.get(status)
    pipeline, _, _, journal = _pipeline(ClaimReply(status, revision=1, record=record))
    answer = await pipeline.settle(_request(), Requester.new())
    assert (answer.success, answer.error_reason) == ANSWER_OF[status]
    if not answer.success:  # no refusal or copy ever reaches the chain
        assert _sent_nothing(journal)
