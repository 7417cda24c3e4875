"""The verify and settle flows every family shares (docs/design.md, "Invariants"; drawn in
docs/settle-path.md).

settle: identify (decode + authenticate, no state) -> ledger claim (atomic; payer limit; secondary
keys; attaches this request), with the read-only verify running meanwhile -> prepare -> record the
transaction id -> broadcast -> confirm (bounded by the request's deadline) -> store the final
answer, handing a success to the attached request only.

One payment, one success: a copy of a payment that another request is waiting for, or whose success
was already handed out, is answered `duplicate_settlement` with the paying transaction. A copy that
finds nobody waiting (the first request was answered `settlement_pending` and gave up) takes the
payment over and resolves it from the chain: that is how the retry after `settlement_pending` gets
its one success. Nothing is broadcast unless this request holds the claim and recorded the
transaction id first, and after that no answer says nothing was sent.

An attachment ends when its request is answered (docs/design.md, 2.5). A request that
claimed a payment is answered anything but the success handed to it only once the ledger confirmed it
lets the payment go (`detach`: the attachment ends and a delivery made to it is undone, in one
compare-and-set). So, whatever the order in which the ledger sees them:
- a finalize that reaches the ledger after the request was answered (it was slow, the worker stopped
  waiting for it) finds nobody attached: it stores the verdict and delivers it to nobody;
- a finalize the ledger wrote but whose reply was lost had delivered the success: the detach undoes it;
- a success the gateway did not take (it gave up, died, its caller hung up) is let go the same way;
and the retry takes the payment over and gets the stored success. The work item is acknowledged only
after that confirmation: a worker that dies before it leaves the item to another replica, which
resumes the request: it answers the success from the record (even past the request's deadline),
and lets it go unless the gateway says it took a success for that request already. Each handling of
a request is an *attempt* and holds the record under its own id, so an attempt never lets go of what
a newer attempt of the same request took over.
"""

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from nats.aio.client import Client

from x402fac.bus import BusError, subjects
from x402fac.protocol import Reason, SettleResponse, VerifyRequest, VerifyResponse
from x402fac.protocol.ledger import AuditEvent, ClaimStatus, RecordState, SettlementRecord, UpdateReply
from x402fac.telemetry import OUTCOMES

from .audit import VerifyAudit
from .ledger_client import LedgerClient
from .scheme import Confirmation, Identity, Invalid, Outcome, Prepared, Rejected, Scheme, Submitted, Unready

log = logging.getLogger(__name__)

# How long the process that submitted a record may still be broadcasting or confirming it.
OWNER_WINDOW_SECONDS = 35.0
# A claim without a transaction id this old belongs to a process that died before broadcasting.
STALE_CLAIM_SECONDS = 60.0
# Kept before the requester's deadline to store the answer and carry it back.
FINALIZE_RESERVE_SECONDS = 0.3
# A gateway waits a little past the deadline it sends (its margin is 1 s, half the timeout below 2 s):
# an answer held back for the ledger's confirmation may use this much of it.
ANSWER_GRACE_SECONDS = 0.5
# How long past its deadline a request that must let its payment go keeps trying before its work item
# is left to another replica (the ledger did not confirm: it is away).
LET_GO_SECONDS = 30.0
# How long a copy waits for the request holding its payment to record the paying transaction.
TRANSACTION_WAIT_SECONDS = 2.0
# The first pause before a transaction id whose recording went unanswered is recorded again.
SUBMIT_RETRY_SECONDS = 0.2
# How long a settle request that arrives without the gateway's deadline is waited for.
DEFAULT_WAIT_SECONDS = 30.0
UNSUPPORTED_LABEL = "unsupported"
RECENT_PAYMENTS = 10_000  # payment ids remembered to tell a copy from a new payment


def _retrieved(future: asyncio.Future) -> None:
    """Marks the outcome of a background check as seen: when its claim was lost, nobody awaits it."""
    if not future.cancelled():
        future.exception()


class Superseded(Exception):
    """Another attempt of the same settle request took the payment over: that one answers."""


class HandOff(Exception):
    """This replica cannot settle the request now: it goes to another replica, nothing was claimed."""


@dataclass(slots=True)
class Requester:
    """One settle request: who asks (a gateway's request id) and until when it waits for the answer."""

    id: str
    deadline: float  # epoch seconds
    payment_id: str = ""  # the payment it is attached to, once claimed
    detached: bool = False  # it stopped waiting (hung up): it must not be handed a success
    api_key_id: str = ""  # the API key it came with (its audit entry names it, for usage)
    attempt: str = field(default_factory=lambda: uuid.uuid4().hex)  # this handling of the request
    # It may hold its payment's record (attached, or the success delivered to it) until the ledger
    # confirms it let go.
    _attached: bool = field(default=False, repr=False)

    @classmethod
    def new(cls, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> "Requester":
        return cls(uuid.uuid4().hex, time.time() + wait_seconds)

    def remaining(self) -> float:
        """Seconds left for chain work before the answer must be on its way."""
        return max(0.0, self.deadline - time.time() - FINALIZE_RESERVE_SECONDS)


def _same(a: str, b: str) -> bool:
    """Equal, ignoring case only for hex addresses (EIP-55 checksums vary in case)."""
    return a == b or (a.startswith("0x") and b.startswith("0x") and a.lower() == b.lower())


_WIRE_NAMES = {
    "scheme": "scheme",
    "network": "network",
    "asset": "asset",
    "amount": "amount",
    "pay_to": "payTo",
}


def check_binding(request: VerifyRequest) -> None:
    """A v2 payment is valid only for the requirements it was made for."""
    accepted = request.payment_payload.accepted
    required = request.payment_requirements
    for name in ("scheme", "network", "asset", "amount", "pay_to"):
        got, want = getattr(accepted, name), getattr(required, name)
        if not _same(got, want):
            raise Invalid(
                Reason.REQUIREMENTS_MISMATCH,
                f"paymentPayload.accepted.{_WIRE_NAMES[name]} is {got!r}"
                f" but paymentRequirements.{_WIRE_NAMES[name]} is {want!r}",
            )


# ---- answers ---------------------------------------------------------------------------------------


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


class Pipeline:
    def __init__(
        self, nc: Client, family: str, schemes: list[Scheme], ledger: LedgerClient | None = None
    ) -> None:
        self.nc = nc
        self.family = family
        self.schemes = schemes
        self.ledger = ledger or LedgerClient(nc)
        self._routes = {(s.name, network): s for s in schemes for network in s.networks()}
        self._networks = {network for s in schemes for network in s.networks()}
        self._recent: OrderedDict[str, None] = OrderedDict()  # payment ids settled here lately
        self.verify_audit = VerifyAudit(nc, family)

    # ---- routing ------------------------------------------------------------------------------

    def route(self, request: VerifyRequest) -> Scheme:
        requirements = request.payment_requirements
        scheme = self._routes.get((requirements.scheme, requirements.network))
        if scheme is not None:
            return scheme
        if requirements.network not in self._networks:
            raise Invalid(Reason.UNSUPPORTED_NETWORK, f"network {requirements.network!r} is not served")
        raise Invalid(
            Reason.UNSUPPORTED_SCHEME,
            f"scheme {requirements.scheme!r} is not supported on {requirements.network}",
        )

    async def _identify(self, request: VerifyRequest) -> tuple[Scheme, Identity]:
        scheme = self.route(request)
        check_binding(request)
        return scheme, await scheme.identify(request)

    # ---- verify -------------------------------------------------------------------------------

    async def verify(self, request: VerifyRequest, api_key_id: str = "") -> VerifyResponse:
        identity: Identity | None = None
        try:
            scheme, identity = await self._identify(request)
            await scheme.verify(request, identity)
            response = VerifyResponse(is_valid=True, payer=identity.payer)
        except Invalid as invalid:
            payer = invalid.payer or (identity.payer if identity else None)
            response = VerifyResponse(
                is_valid=False,
                invalid_reason=invalid.reason,
                invalid_message=invalid.message or None,
                payer=payer,
            )
        await self._audit("verify", request, response.invalid_reason or "valid", identity, "", api_key_id)
        return response

    # ---- settle -------------------------------------------------------------------------------

    async def settle(self, request: VerifyRequest, requester: Requester | None = None) -> SettleResponse:
        requester = requester or Requester.new()
        started = time.monotonic()
        network = request.payment_requirements.network
        identity: Identity | None = None
        try:
            scheme, identity = await self._identify(request)
            response = await self._settle(scheme, request, identity, requester)
        except Invalid as invalid:
            payer = invalid.payer or (identity.payer if identity else None)
            response = failure_answer(network, invalid.reason, invalid.message, payer)
        if not response.success:
            # Before the answer, so the retry it prompts may take the payment over. Unconfirmed by the
            # time the answer is due, the answer goes anyway and the work item waits for it (service).
            await self.let_go(requester, requester.deadline + ANSWER_GRACE_SECONDS)
        outcome = "settled" if response.success else (response.error_reason or "failed")
        elapsed_ms = int((time.monotonic() - started) * 1000)
        await self._audit(
            "settle", request, outcome, identity, response.transaction, requester.api_key_id, elapsed_ms
        )
        return response

    async def _settle(
        self, scheme: Scheme, request: VerifyRequest, identity: Identity, requester: Requester
    ) -> SettleResponse:
        # The chain reads settle needs are read-only: they overlap the claim and count only if it is won.
        # A payment seen here lately is most likely a copy: it is claimed first, and costs no chain read.
        checked = None
        if not self._seen_lately(identity.payment_id):
            checked = asyncio.ensure_future(scheme.verify_for_settle(request, identity))
            checked.add_done_callback(_retrieved)
        try:
            return await self._claimed(scheme, request, identity, requester, checked)
        finally:
            if checked is not None:
                checked.cancel()  # not needed (a copy, a refusal, a take-over) or done already

    def _seen_lately(self, payment_id: str) -> bool:
        if payment_id in self._recent:
            self._recent.move_to_end(payment_id)
            return True
        self._recent[payment_id] = None
        if len(self._recent) > RECENT_PAYMENTS:
            self._recent.popitem(last=False)
        return False

    async def _claimed(
        self,
        scheme: Scheme,
        request: VerifyRequest,
        identity: Identity,
        requester: Requester,
        checked: asyncio.Future | None,
    ) -> SettleResponse:
        network = request.payment_requirements.network
        claim = await self.ledger.claim(
            identity, self.family, network, requester.id, requester.deadline, requester.attempt
        )
        status, record = claim.status, claim.record
        if status is ClaimStatus.RATE_LIMITED:
            return failure_answer(
                network,
                Reason.RATE_LIMITED,
                f"payer settle limit reached; retry in {claim.retry_after}s",
                identity.payer,
            )
        if status is ClaimStatus.DUPLICATE:
            return failure_answer(
                network,
                Reason.DUPLICATE_SETTLEMENT,
                "this purchase was already paid by another payment",
                identity.payer,
            )
        if (
            status is ClaimStatus.DELIVERED
            and record is not None
            and record.delivered_to == requester.id
            and record.attempt == requester.attempt
            and record.response is not None
        ):
            # This very request again (redelivered): its answer, which this attempt now carries and
            # lets go if it does not arrive.
            requester.payment_id, requester._attached = identity.payment_id, True
            return record.response
        if status is ClaimStatus.BUSY and record is not None and not record.transaction:
            record = await self._transaction_of(identity.payment_id, requester) or record
        if status in (ClaimStatus.BUSY, ClaimStatus.DELIVERED):
            return duplicate_answer(network, record, identity.payer)
        if status is ClaimStatus.FAILED and record is not None and record.response is not None:
            return record.response
        requester.payment_id, requester._attached = identity.payment_id, True
        if status is ClaimStatus.ATTACHED and record is not None and record.state is not RecordState.CLAIMED:
            return await self._take_over(scheme, request, record, claim.revision, requester)
        return await self._first_attempt(scheme, request, identity, claim.revision, requester, checked)

    async def _transaction_of(self, payment_id: str, requester: Requester) -> SettlementRecord | None:
        """The record once the request holding it has recorded its transaction (it is signing it now),
        so a copy is told which transaction pays; bounded, and never past this copy's own deadline."""
        deadline = min(time.monotonic() + TRANSACTION_WAIT_SECONDS, time.monotonic() + requester.remaining())
        delay = 0.01
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
            found = await self.ledger.lookup(payment_id)
            if not found.ok or found.record is None:
                return None
            if found.record.transaction:
                return found.record
        return None

    async def _first_attempt(
        self,
        scheme: Scheme,
        request: VerifyRequest,
        identity: Identity,
        revision: int,
        requester: Requester,
        checked: asyncio.Future | None,
    ) -> SettleResponse:
        network = request.payment_requirements.network
        try:
            found = await (checked if checked is not None else scheme.verify_for_settle(request, identity))
            prepared = await scheme.prepare(request, identity, found)
        except Invalid as invalid:
            await self.ledger.release(identity.payment_id, revision, invalid.reason)
            return failure_answer(network, invalid.reason, invalid.message, identity.payer)
        except Unready as unready:
            await self.ledger.release(identity.payment_id, revision, "unready")
            raise HandOff(str(unready)) from None
        except BaseException:
            await self._release_quietly(identity.payment_id, revision)
            raise
        try:
            submitted = await self._submit(identity.payment_id, revision, prepared, requester)
        except BaseException:
            await scheme.discard(prepared)
            raise
        if not submitted.ok:
            # The payment moved on without this attempt: nothing was broadcast here. If another attempt
            # of this same request took it over (a redelivery), that one answers.
            await scheme.discard(prepared)
            if submitted.record is not None and submitted.record.attached == requester.id:
                raise Superseded(identity.payment_id)
            return duplicate_answer(network, submitted.record, identity.payer)
        record = SettlementRecord(
            payment_id=identity.payment_id,
            family=self.family,
            network=network,
            payer=identity.payer,
            amount=identity.amount,
            state=RecordState.SUBMITTED,
            created_at=0.0,
            updated_at=0.0,
            transaction=prepared.transaction,
        )
        try:
            return await self._broadcast_and_confirm(
                scheme, request, record, prepared, submitted.revision, requester
            )
        except Exception:
            # The transaction id is recorded and may be on its way: never say nothing was sent. The
            # record stays pending for a retry or the reconciler.
            log.exception("settlement of %s ended unclear", prepared.transaction)
            return pending_answer(
                network, prepared.transaction, identity.payer, "the outcome is not known yet; retry for it"
            )

    async def _submit(
        self, payment_id: str, revision: int, prepared: Prepared, requester: Requester
    ) -> UpdateReply:
        """Record the transaction id before anything is broadcast.

        A failed call says nothing about the write (a ledger stopping, or a JetStream write slower
        than the wait, may have stored it): given up here, the record would hold a transaction nobody
        sends, which a later attempt could only find "not on the chain". So it is made again until
        the request's deadline; a record found holding this transaction for this request is the
        earlier call's write."""
        delay = SUBMIT_RETRY_SECONDS
        while True:
            try:
                reply = await self.ledger.submit(payment_id, revision, prepared.transaction, prepared.hint)
            except BusError as exc:
                if requester.remaining() <= delay:
                    raise
                log.info("submit of %s unclear (%s): again", prepared.transaction, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
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

    async def _broadcast_and_confirm(
        self,
        scheme: Scheme,
        request: VerifyRequest,
        record: SettlementRecord,
        prepared: Prepared,
        revision: int,
        requester: Requester,
    ) -> SettleResponse:
        try:
            await scheme.broadcast(prepared)
        except Rejected as rejected:
            failure = failure_answer(record.network, rejected.reason, rejected.message, record.payer)
            if rejected.retryable:
                await self.ledger.release(record.payment_id, revision, rejected.reason)
                return failure
            return await self._store_final(record, revision, failure, requester)
        except Exception as exc:
            # The node may or may not have it: the record keeps the transaction for reconciliation.
            log.warning("broadcast of %s ended unclear: %s", prepared.transaction, exc)
            return pending_answer(
                record.network, prepared.transaction, record.payer, "broadcast outcome unknown yet"
            )
        budget = min(scheme.settle_timeout(request), requester.remaining())
        outcome = await scheme.confirm(prepared, budget)
        return await self._conclude(record, revision, outcome, requester)

    async def _take_over(
        self,
        scheme: Scheme,
        request: VerifyRequest,
        record: SettlementRecord,
        revision: int,
        requester: Requester,
    ) -> SettleResponse:
        """A payment nobody was waiting for: hand out its stored success, or resolve it from the chain."""
        try:
            if record.state is RecordState.SETTLED and record.response is not None:
                return await self._store_final(record, revision, record.response, requester)
            budget = min(scheme.settle_timeout(request), requester.remaining())
            outcome = await scheme.resolve(Submitted(record.transaction, record.network, record.hint), budget)
            if (
                outcome.status is Confirmation.DROPPED
                and time.time() - record.updated_at < OWNER_WINDOW_SECONDS
            ):
                # The owner may still be broadcasting: "unknown to the chain" proves nothing yet.
                outcome = Outcome(Confirmation.PENDING, message="settlement in progress")
            return await self._conclude(record, revision, outcome, requester)
        except Exception:
            log.exception("resolving %s ended unclear", record.transaction)
            return pending_answer(
                record.network, record.transaction, record.payer, "the outcome is not known yet; retry for it"
            )

    async def _conclude(
        self, record: SettlementRecord, revision: int, outcome: Outcome, requester: Requester | None
    ) -> SettleResponse:
        """Turn the chain's verdict on a submitted record into the answer, storing it when final."""
        if outcome.status is Confirmation.PENDING:
            return pending_answer(record.network, record.transaction, record.payer, outcome.message)
        if outcome.status is Confirmation.DROPPED:
            await self.ledger.release(record.payment_id, revision, outcome.reason)
            return failure_answer(
                record.network, outcome.reason or Reason.SETTLEMENT_FAILED, outcome.message, record.payer
            )
        if outcome.status is Confirmation.CONFIRMED:
            final = SettleResponse(
                success=True,
                transaction=record.transaction,
                network=record.network,
                payer=record.payer,
                amount=record.amount,
            )
        else:
            final = SettleResponse(
                success=False,
                transaction=record.transaction,
                network=record.network,
                payer=record.payer,
                error_reason=outcome.reason or Reason.SETTLEMENT_FAILED,
                error_message=outcome.message or None,
            )
        return await self._store_final(record, revision, final, requester)

    async def _store_final(
        self, record: SettlementRecord, revision: int, final: SettleResponse, requester: Requester | None
    ) -> SettleResponse:
        """Store the verdict; a success is this request's answer only if the ledger handed it over."""
        receiver = requester.id if requester is not None and not requester.detached else ""
        attempt = requester.attempt if requester is not None else ""
        until = requester.deadline if requester is not None else 0.0  # the reserve is for this
        stored = await self.ledger.finalize(
            record.payment_id, revision, final, receiver, until=until, attempt=attempt
        )
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
        return pending_answer(
            record.network,
            answer.transaction,
            record.payer,
            "confirmed; retry the same settle for the answer",
        )

    async def _release_quietly(self, payment_id: str, revision: int) -> None:
        try:
            await self.ledger.release(payment_id, revision, "internal_error")
        except BusError:
            log.warning("could not release claim %s", payment_id)

    async def let_go(self, requester: Requester, until: float) -> bool:
        """`requester` is answered without its payment's success (or the success did not reach it): once
        the ledger confirms it holds the payment no more, a retry may take it over. Tried until `until`
        (epoch seconds); True once confirmed (or when it never held the payment)."""
        if not requester._attached or not requester.payment_id:
            return True  # answered without a claim of its own: nothing in the ledger is its to let go
        try:
            confirmed = await self.ledger.detach(requester.payment_id, requester.id, requester.attempt, until)
        except BusError as exc:
            log.warning("%s could not let %s go yet: %s", requester.id, requester.payment_id, exc)
            return False
        requester._attached = not confirmed
        return confirmed

    async def carry_late(self, request: VerifyRequest, requester: Requester) -> SettleResponse | None:
        """The success handed to `requester` by an earlier attempt, now carried by this one (so that
        only this attempt can let it go), or None when the request holds no success. Starts nothing:
        a request past its deadline never claims a payment anew."""
        try:
            _, identity = await self._identify(request)
        except Invalid:
            return None  # not an authentic payment: it never reached the ledger
        found = await self.ledger.lookup(identity.payment_id)
        if found.record is None or found.record.delivered_to != requester.id:
            return None
        network = request.payment_requirements.network
        claim = await self.ledger.claim(
            identity, self.family, network, requester.id, requester.deadline, requester.attempt
        )
        record = claim.record
        if claim.status is not ClaimStatus.DELIVERED or record is None or record.attempt != requester.attempt:
            return None  # undone meanwhile (a retry may have it), or a newer attempt carries it
        requester.payment_id, requester._attached = identity.payment_id, True
        return record.response

    async def detach(self, requester: Requester) -> None:
        """The request stopped waiting (its caller hung up, its gateway gave up): it must not be handed
        the success. Let go at once, so a retry may take the payment over while this attempt works;
        the attempt lets go for certain before it answers."""
        requester.detached = True
        if requester._attached and requester.payment_id:
            try:
                await self.ledger.detach(requester.payment_id, requester.id, requester.attempt)
            except BusError:
                log.info("could not detach %s from %s yet", requester.id, requester.payment_id)

    # ---- reconciliation -----------------------------------------------------------------------

    async def reconcile_once(self, older_than_seconds: float = OWNER_WINDOW_SECONDS) -> int:
        """Resolve records left pending (late confirmations, crashed workers). Returns how many moved."""
        pending = await self.ledger.pending(self.family, older_than_seconds)
        moved = 0
        schemes = {network: s for s in self.schemes for network in s.networks()}
        now = time.time()
        for record, revision in zip(pending.records, pending.revisions, strict=True):
            scheme = schemes.get(record.network)
            if scheme is None:
                continue
            if record.state is RecordState.CLAIMED:
                # Storing a verdict never hands a success out, but releasing a claim would pull it
                # from under a live request that is still preparing it.
                if now - record.updated_at > STALE_CLAIM_SECONDS and not record.attached_live(now):
                    moved += (await self.ledger.release(record.payment_id, revision, "stale_claim")).ok
                continue
            submitted = Submitted(record.transaction, record.network, record.hint)
            outcome = await scheme.resolve(submitted, 0.5)
            if outcome.status is not Confirmation.PENDING:
                await self._conclude(record, revision, outcome, None)
                moved += 1
        return moved

    # ---- audit --------------------------------------------------------------------------------

    async def _audit(
        self,
        kind: str,
        request: VerifyRequest,
        outcome: str,
        identity: Identity | None,
        tx: str,
        api_key_id: str = "",
        elapsed_ms: int = 0,
    ) -> None:
        network = request.payment_requirements.network
        label = network if network in self._networks else UNSUPPORTED_LABEL  # bounded label values
        OUTCOMES.labels(kind, self.family, label, outcome).inc()
        event = AuditEvent(
            kind=kind,
            family=self.family,
            network=network[:100],
            outcome=outcome,
            at=time.time(),
            payer=identity.payer if identity else "",
            payment_id=identity.payment_id if identity else "",
            transaction=tx,
            api_key_id=api_key_id[:32],
            asset=request.payment_requirements.asset[:100] if outcome == "settled" else "",
            amount=request.payment_requirements.amount if outcome == "settled" else "",
            elapsed_ms=elapsed_ms,
        )
        if kind == "verify":
            self.verify_audit.add(event)
            return
        # A settle outcome is appended once per payment and outcome, however often it is retried.
        headers = {"Nats-Msg-Id": f"{identity.payment_id}:{outcome}"} if identity else None
        try:  # core publish: the audit trail must never slow down or fail a payment
            await self.nc.publish(
                subjects.audit(kind, self.family), msgspec.json.encode(event), headers=headers
            )
        except Exception as exc:
            log.warning("audit publish failed: %s", exc)
