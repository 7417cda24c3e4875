"""One settle attempt after authentication, as named states: the ledger's claim answers a
`ClaimStatus`, and each status has one handler (`SettleAttempt.on_<status>`, listed in `HANDLERS`).
The path through them is drawn in docs/settle-path.md; the rules they keep are docs/design.md, 2.2-2.5.

- `claimed`: this request created the record: verify, prepare, record the transaction, broadcast,
  confirm (`first_attempt`).
- `attached`: nobody waited for the record and this request took it: a claim still without a
  transaction is a first attempt, a recorded transaction is resolved from the chain (`take_over`).
- `busy` / `delivered` to another request: a copy, told `duplicate_settlement` with the paying
  transaction; `delivered` to this very attempt: the stored success, carried again.
- `failed`: the stored failure. `rate_limited` / `duplicate`: refused, nothing claimed.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from x402fac.bus import BusError, HandOff
from x402fac.protocol import Reason, SettleResponse, VerifyRequest
from x402fac.protocol.ledger import (
    ClaimReply,
    ClaimStatus,
    RecordState,
    ReleaseReason,
    SettlementRecord,
    UpdateReply,
)

from .answers import duplicate_answer, failure_answer, pending_answer
from .delivery import conclude, store_final, success_answer
from .ledger_client import LedgerClient
from .requester import Requester
from .scheme import Confirmation, Identity, Invalid, Outcome, Prepared, Rejected, Scheme, Submitted

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long the process that submitted a record may still be broadcasting or confirming it.
OWNER_WINDOW_SECONDS = 35.0
# How long a copy waits for the request holding its payment to record the paying transaction.
TRANSACTION_WAIT_SECONDS = 2.0
# The first pause before a transaction id whose recording went unanswered is recorded again.
SUBMIT_RETRY_SECONDS = 0.2


class Superseded(Exception):
    """Another attempt of the same settle request took the payment over: that one answers."""


@dataclass(slots=True)
class SettleAttempt:
    """One request's attempt at one authenticated payment, from the claim to its answer."""

    ledger: LedgerClient
    family: str
    scheme: Scheme
    request: VerifyRequest
    identity: Identity
    requester: Requester
    # The read-only chain checks, started beside the claim (None: run them after winning it).
    checked: asyncio.Future | None = None

    @property
    def network(self) -> str:
        return self.request.payment_requirements.network

    def record(self, state: RecordState, transaction: str = "") -> SettlementRecord:
        """This payment's record as the worker knows it (the ledger keeps the times)."""
        return self.identity.facts(self.family, self.network).record(state, transaction=transaction)

    async def run(self) -> SettleResponse:
        new_here = self.checked is not None and not self.scheme.prepare_reserves
        prepared = await self.prepared_first() if new_here else None
        if prepared is not None:
            return await self.claim_prepared(prepared)
        requester = self.requester
        claim = await self.ledger.claim(
            self.identity, self.family, self.network, requester.id, requester.deadline, requester.attempt
        )
        return await HANDLERS[claim.status](self, claim)

    async def prepared_first(self) -> Prepared | None:
        """A payment not seen here lately, most likely new: prepared before its claim, which then
        records the transaction too (one ledger round trip fewer). None when the chain checks refuse
        it or there is nothing to send: the claim decides then, as for a copy (a copy of a settled
        payment fails the chain checks and is told what became of its payment), and `first_attempt`
        answers the refusal from the same checks."""
        try:
            found = await self.checked  # type: ignore[misc]
            return await self.scheme.prepare(self.request, self.identity, found)
        except Invalid:
            return None

    async def claim_prepared(self, prepared: Prepared) -> SettleResponse:
        """Claim with the prepared transaction. Broadcast only when this claim created the record
        holding it (2.3: the ledger answers a claim made again by the same attempt `claimed` with
        the record it created); a record with no transaction yet gets it the usual way (`submit`,
        which fences off an owner that did not get that far); anything else is a copy or a
        take-over: the transaction is dropped unsent."""
        payment_id, requester = self.identity.payment_id, self.requester
        try:
            claim = await self._again_until_deadline(
                "claim",
                lambda: self.ledger.claim(
                    self.identity,
                    self.family,
                    self.network,
                    requester.id,
                    requester.deadline,
                    requester.attempt,
                    prepared.transaction,
                    prepared.hint,
                ),
            )
        except BaseException:
            await self.scheme.discard(prepared)
            raise
        record = claim.record
        if (
            claim.status is ClaimStatus.CLAIMED
            and record is not None
            and record.state is RecordState.SUBMITTED
            and record.transaction == prepared.transaction
            and record.attached == requester.id
            and record.attempt == requester.attempt
        ):
            requester.attach(payment_id)
            return await self.send(prepared, claim.revision)
        if (
            claim.status in (ClaimStatus.CLAIMED, ClaimStatus.ATTACHED)
            and record is not None
            and record.state is RecordState.CLAIMED
        ):
            requester.attach(payment_id)
            return await self.submit_and_send(prepared, claim.revision)
        # A copy, or a record an earlier attempt submitted (even with this very transaction: the chain
        # says what became of it, 2.3): nothing is sent from here.
        await self.scheme.discard(prepared)
        return await HANDLERS[claim.status](self, claim)

    # ---- one handler per claim status ---------------------------------------------------------

    async def on_claimed(self, claim: ClaimReply) -> SettleResponse:
        self.requester.attach(self.identity.payment_id)
        return await self.first_attempt(claim.revision)

    async def on_attached(self, claim: ClaimReply) -> SettleResponse:
        self.requester.attach(self.identity.payment_id)
        record = claim.record
        if record is None or record.state is RecordState.CLAIMED:
            return await self.first_attempt(claim.revision)  # its first owner never recorded a transaction
        return await self.take_over(record, claim.revision)

    async def on_busy(self, claim: ClaimReply) -> SettleResponse:
        record = claim.record
        if record is not None and not record.transaction:
            record = await self.transaction_of() or record
        return duplicate_answer(self.network, record, self.identity.payer)

    async def on_delivered(self, claim: ClaimReply) -> SettleResponse:
        record = claim.record
        if (
            record is not None
            and record.delivered_to == self.requester.id
            and record.attempt == self.requester.attempt
            and record.response is not None
        ):
            # This very request again (redelivered): its answer, which this attempt now carries and
            # lets go if it does not arrive.
            self.requester.attach(self.identity.payment_id)
            return record.response
        return duplicate_answer(self.network, record, self.identity.payer)

    async def on_failed(self, claim: ClaimReply) -> SettleResponse:
        if claim.record is not None and claim.record.response is not None:
            return claim.record.response
        return failure_answer(
            self.network, Reason.SETTLEMENT_FAILED, "this payment failed", self.identity.payer
        )

    async def on_rate_limited(self, claim: ClaimReply) -> SettleResponse:
        return failure_answer(
            self.network,
            Reason.RATE_LIMITED,
            f"payer settle limit reached; retry in {claim.retry_after}s",
            self.identity.payer,
        )

    async def on_duplicate(self, _claim: ClaimReply) -> SettleResponse:
        return failure_answer(
            self.network,
            Reason.DUPLICATE_SETTLEMENT,
            "this purchase was already paid by another payment",
            self.identity.payer,
        )

    # ---- the steps ----------------------------------------------------------------------------

    async def transaction_of(self) -> SettlementRecord | None:
        """The record once the request holding it has recorded its transaction (it is signing it now),
        so a copy is told which transaction pays; bounded, and never past this copy's own deadline."""
        now = time.monotonic()
        deadline = min(now + TRANSACTION_WAIT_SECONDS, now + self.requester.remaining())
        delay = 0.01
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
            found = await self.ledger.lookup(self.identity.payment_id)
            if not found.ok or found.record is None:
                return None
            if found.record.transaction:
                return found.record
        return None

    async def first_attempt(self, revision: int) -> SettleResponse:
        """Verify and prepare, record the transaction id (docs/design.md, 2.3), then broadcast."""
        scheme, identity, payment_id = self.scheme, self.identity, self.identity.payment_id
        try:
            checked = self.checked
            found = await (
                checked if checked is not None else scheme.verify_for_settle(self.request, identity)
            )
            prepared = await scheme.prepare(self.request, identity, found)
        except Invalid as invalid:
            await self.ledger.release(payment_id, revision, ReleaseReason.INVALID)
            return failure_answer(self.network, invalid.reason, invalid.message, identity.payer)
        except HandOff:
            await self.ledger.release(payment_id, revision, ReleaseReason.HANDED_OFF)
            raise
        except BaseException:
            await self._release_quietly(revision)
            raise
        if prepared is None:
            return await self.nothing_to_send(revision)
        return await self.submit_and_send(prepared, revision)

    async def submit_and_send(self, prepared: Prepared, revision: int) -> SettleResponse:
        """Record the prepared transaction on the claimed record, then send it."""
        scheme, payment_id = self.scheme, self.identity.payment_id
        try:
            submitted = await self.submit(revision, prepared)
        except BaseException:
            await scheme.discard(prepared)
            raise
        if not submitted.ok:
            # The payment moved on without this attempt: nothing was broadcast here. If another attempt
            # of this same request took it over (a redelivery), that one answers.
            await scheme.discard(prepared)
            if submitted.record is not None and submitted.record.attached == self.requester.id:
                raise Superseded(payment_id)
            return duplicate_answer(self.network, submitted.record, self.identity.payer)
        return await self.send(prepared, submitted.revision)

    async def send(self, prepared: Prepared, revision: int) -> SettleResponse:
        """Broadcast and confirm a transaction the record holds (at `revision`)."""
        record = self.record(RecordState.SUBMITTED, prepared.transaction)
        try:
            return await self.broadcast_and_confirm(record, prepared, revision)
        except Exception:
            # The transaction id is recorded and may be on its way: never say nothing was sent. The
            # record stays pending for a retry or the reconciler.
            log.exception("settlement of %s ended unclear", prepared.transaction)
            return pending_answer(
                self.network,
                prepared.transaction,
                self.identity.payer,
                "the outcome is not known yet; retry for it",
            )

    async def nothing_to_send(self, revision: int) -> SettleResponse:
        """A payment settled with no transaction (an `upto` payment charged 0): final at once, so the
        authorization settles no second time."""
        record = self.record(RecordState.CLAIMED)
        return await store_final(self.ledger, record, revision, success_answer(record), self.requester)

    async def submit(self, revision: int, prepared: Prepared) -> UpdateReply:
        """Record the transaction id before anything is broadcast.

        A failed call says nothing about the write (a ledger stopping, or a JetStream write slower
        than the wait, may have stored it): given up here, the record would hold a transaction nobody
        sends, which a later attempt could only find "not on the chain". So it is made again until
        the request's deadline; a record found holding this transaction for this request is the
        earlier call's write."""
        payment_id, requester = self.identity.payment_id, self.requester
        reply = await self._again_until_deadline(
            "submit",
            lambda: self.ledger.submit(payment_id, revision, prepared.transaction, prepared.hint),
        )
        held = reply.record
        if (
            not reply.ok
            and held is not None
            and held.state is RecordState.SUBMITTED
            and held.transaction == prepared.transaction
            and held.attached == requester.id
        ):
            return UpdateReply(ok=True, revision=reply.revision, record=held)
        return reply

    async def _again_until_deadline(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call`, made again after a bus failure (which says nothing about whether it was written)
        until the request's deadline: a transaction id must not be left recorded by a write nobody
        knows of. Safe to repeat: a claim by the same attempt re-attaches to its own record, a
        submit finds its own transaction recorded."""
        delay = SUBMIT_RETRY_SECONDS
        while True:
            try:
                return await call()
            except BusError as exc:
                if self.requester.remaining() <= delay:
                    raise
                log.info("%s of %s unclear (%s): again", what, self.identity.payment_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def broadcast_and_confirm(
        self, record: SettlementRecord, prepared: Prepared, revision: int
    ) -> SettleResponse:
        try:
            await self.scheme.broadcast(prepared)
        except Rejected as rejected:
            failure = failure_answer(record.network, rejected.reason, rejected.message, record.payer)
            if rejected.retryable:
                await self.ledger.release(record.payment_id, revision, ReleaseReason.REJECTED)
                return failure
            return await store_final(self.ledger, record, revision, failure, self.requester)
        except Exception as exc:
            # The node may or may not have it: the record keeps the transaction for reconciliation.
            log.warning("broadcast of %s ended unclear: %s", prepared.transaction, exc)
            return pending_answer(
                record.network, prepared.transaction, record.payer, "broadcast outcome unknown yet"
            )
        budget = min(self.scheme.settle_timeout(self.request), self.requester.remaining())
        outcome = await self.scheme.confirm(prepared, budget)
        return await conclude(self.ledger, record, revision, outcome, self.requester)

    async def take_over(self, record: SettlementRecord, revision: int) -> SettleResponse:
        """A payment nobody was waiting for: hand out its stored success, or resolve it from the chain."""
        try:
            if record.state is RecordState.SETTLED and record.response is not None:
                return await store_final(self.ledger, record, revision, record.response, self.requester)
            budget = min(self.scheme.settle_timeout(self.request), self.requester.remaining())
            submitted = Submitted(record.transaction, record.network, record.hint)
            outcome = await self.scheme.resolve(submitted, budget)
            if (
                outcome.status is Confirmation.DROPPED
                and time.time() - record.updated_at < OWNER_WINDOW_SECONDS
            ):
                # The owner may still be broadcasting: "unknown to the chain" proves nothing yet.
                outcome = Outcome(Confirmation.PENDING, message="settlement in progress")
            return await conclude(self.ledger, record, revision, outcome, self.requester)
        except Exception:
            log.exception("resolving %s ended unclear", record.transaction)
            return pending_answer(
                record.network, record.transaction, record.payer, "the outcome is not known yet; retry for it"
            )

    async def _release_quietly(self, revision: int) -> None:
        try:
            await self.ledger.release(self.identity.payment_id, revision, ReleaseReason.INTERNAL_ERROR)
        except BusError:
            log.warning("could not release claim %s", self.identity.payment_id)


ClaimHandler = Callable[[SettleAttempt, ClaimReply], Awaitable[SettleResponse]]
HANDLERS: dict[ClaimStatus, ClaimHandler] = {
    ClaimStatus.CLAIMED: SettleAttempt.on_claimed,
    ClaimStatus.ATTACHED: SettleAttempt.on_attached,
    ClaimStatus.BUSY: SettleAttempt.on_busy,
    ClaimStatus.DELIVERED: SettleAttempt.on_delivered,
    ClaimStatus.FAILED: SettleAttempt.on_failed,
    ClaimStatus.RATE_LIMITED: SettleAttempt.on_rate_limited,
    ClaimStatus.DUPLICATE: SettleAttempt.on_duplicate,
}
