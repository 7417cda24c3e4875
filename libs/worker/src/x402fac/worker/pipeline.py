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
from collections import OrderedDict

import msgspec
from nats.aio.client import Client

from x402fac.bus import BusError, subjects
from x402fac.protocol import Reason, SettleResponse, VerifyRequest, VerifyResponse
from x402fac.protocol.ledger import AuditEvent, ClaimStatus, RecordState, ReleaseReason
from x402fac.telemetry import OUTCOMES, labelled

from .answers import failure_answer
from .audit import VerifyAudit
from .delivery import conclude
from .ledger_client import LedgerClient
from .requester import Requester
from .scheme import Confirmation, Identity, Invalid, Scheme, Submitted
from .settle_states import OWNER_WINDOW_SECONDS, SettleAttempt

log = logging.getLogger(__name__)

# A claim without a transaction id this old belongs to a process that died before broadcasting.
STALE_CLAIM_SECONDS = 60.0
# A gateway waits a little past the deadline it sends (its margin is 1 s, half the timeout below 2 s):
# an answer held back for the ledger's confirmation may use this much of it.
ANSWER_GRACE_SECONDS = 0.5
# How long past its deadline a request that must let its payment go keeps trying before its work item
# is left to another replica (the ledger did not confirm: it is away).
LET_GO_SECONDS = 30.0
UNSUPPORTED_LABEL = "unsupported"
RECENT_PAYMENTS = 10_000  # payment ids remembered to tell a copy from a new payment


def _retrieved(future: asyncio.Future) -> None:
    """Marks the outcome of a background check as seen: when its claim was lost, nobody awaits it."""
    if not future.cancelled():
        future.exception()


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


def check_binding(request: VerifyRequest, amount_up_to: bool = False) -> None:
    """A v2 payment is valid only for the requirements it was made for; with `amount_up_to` (the
    scheme's `settles_up_to`) the amount may differ: the scheme holds it to what was authorized."""
    accepted = request.payment_payload.accepted
    required = request.payment_requirements
    if (
        accepted.scheme == required.scheme
        and accepted.network == required.network
        and accepted.asset == required.asset
        and (amount_up_to or accepted.amount == required.amount)
        and accepted.pay_to == required.pay_to
    ):
        return  # as the client echoed them, the common case
    for name in ("scheme", "network", "asset", "amount", "pay_to"):
        got, want = getattr(accepted, name), getattr(required, name)
        if name == "amount" and amount_up_to:  # the scheme checks it against what was authorized
            continue
        if not _same(got, want):
            raise Invalid(
                Reason.REQUIREMENTS_MISMATCH,
                f"paymentPayload.accepted.{_WIRE_NAMES[name]} is {got!r}"
                f" but paymentRequirements.{_WIRE_NAMES[name]} is {want!r}",
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
        check_binding(request, scheme.settles_up_to)
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
        """Answer one settle request. Raises `HandOff` (nothing left claimed: another replica takes
        it) or `Superseded` (a newer attempt of the same request answers)."""
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
        attempt = SettleAttempt(self.ledger, self.family, scheme, request, identity, requester, checked)
        try:
            return await attempt.run()
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

    # ---- letting go ---------------------------------------------------------------------------

    async def let_go(self, requester: Requester, until: float) -> bool:
        """`requester` is answered without its payment's success (or the success did not reach it): once
        the ledger confirms it holds the payment no more, a retry may take it over. Tried until `until`
        (epoch seconds); True once confirmed (or when it never held the payment)."""
        if not requester.holds:
            return True  # answered without a claim of its own: nothing in the ledger is its to let go
        try:
            confirmed = await self.ledger.detach(requester.payment_id, requester.id, requester.attempt, until)
        except BusError as exc:
            log.warning("%s could not let %s go yet: %s", requester.id, requester.payment_id, exc)
            return False
        if confirmed:
            requester.detach()
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
        requester.attach(identity.payment_id)
        return record.response

    async def detach(self, requester: Requester) -> None:
        """The request stopped waiting (its caller hung up, its gateway gave up): it must not be handed
        the success. Let go at once, so a retry may take the payment over while this attempt works;
        the attempt lets go for certain before it answers."""
        requester.detached = True
        if requester.holds:
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
                    released = await self.ledger.release(record.payment_id, revision, ReleaseReason.STALE)
                    moved += released.ok
                continue
            submitted = Submitted(record.transaction, record.network, record.hint)
            outcome = await scheme.resolve(submitted, 0.5)
            if outcome.status is not Confirmation.PENDING:
                await conclude(self.ledger, record, revision, outcome, None)
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
        labelled(OUTCOMES, kind, self.family, label, outcome).inc()
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
