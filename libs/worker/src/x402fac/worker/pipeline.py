"""The verify and settle flows every family shares (DESIGN.md, "Settlement flow").

settle: identify -> ledger claim (atomic; payer limit; secondary keys) -> verify -> prepare ->
record the transaction id -> broadcast -> confirm (bounded) -> store the final answer.
A payment whose claim exists gets the stored answer, or `settlement_pending` with its transaction
(after a short look at the chain, so a retry of a late confirmation gets the final answer).
Nothing is broadcast unless this process holds the claim and recorded the transaction id first.
"""

import asyncio
import logging
import time

import msgspec
from nats.aio.client import Client

from x402fac.bus import BusError, subjects
from x402fac.protocol import Reason, SettleResponse, VerifyRequest, VerifyResponse
from x402fac.protocol.ledger import AuditEvent, ClaimStatus, RecordState, SettlementRecord
from x402fac.telemetry import OUTCOMES

from .ledger_client import LedgerClient
from .scheme import Confirmation, Identity, Invalid, Outcome, Prepared, Rejected, Scheme

log = logging.getLogger(__name__)

# How long a retry looks at the chain for a submitted record before answering pending.
RETRY_CONFIRM_SECONDS = 2.0
# How long the process that submitted a record may still be broadcasting or confirming it.
OWNER_WINDOW_SECONDS = 35.0
# A claim without a transaction id this old belongs to a process that died before broadcasting.
STALE_CLAIM_SECONDS = 60.0


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
    for field in ("scheme", "network", "asset", "amount", "pay_to"):
        got, want = getattr(accepted, field), getattr(required, field)
        if not _same(got, want):
            raise Invalid(
                Reason.REQUIREMENTS_MISMATCH,
                f"paymentPayload.accepted.{_WIRE_NAMES[field]} is {got!r}"
                f" but paymentRequirements.{_WIRE_NAMES[field]} is {want!r}",
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

    # ---- verify -------------------------------------------------------------------------------

    async def verify(self, request: VerifyRequest) -> VerifyResponse:
        identity: Identity | None = None
        try:
            scheme = self.route(request)
            check_binding(request)
            identity = scheme.identify(request)
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
        await self._audit("verify", request, response.invalid_reason or "valid", identity, "")
        return response

    # ---- settle -------------------------------------------------------------------------------

    async def settle(self, request: VerifyRequest) -> SettleResponse:
        network = request.payment_requirements.network
        identity: Identity | None = None
        try:
            scheme = self.route(request)
            check_binding(request)
            identity = scheme.identify(request)
            response = await self._settle(scheme, request, identity)
        except Invalid as invalid:
            payer = invalid.payer or (identity.payer if identity else None)
            response = self._failure(network, invalid.reason, invalid.message, payer)
        outcome = "settled" if response.success else (response.error_reason or "failed")
        await self._audit("settle", request, outcome, identity, response.transaction)
        return response

    async def _settle(self, scheme: Scheme, request: VerifyRequest, identity: Identity) -> SettleResponse:
        network = request.payment_requirements.network
        claim = await self.ledger.claim(identity, self.family, network)
        if claim.status is ClaimStatus.RATE_LIMITED:
            return self._failure(
                network,
                Reason.RATE_LIMITED,
                f"payer settle limit reached; retry in {claim.retry_after}s",
                identity.payer,
            )
        if claim.status is ClaimStatus.DUPLICATE:
            return self._failure(
                network,
                Reason.DUPLICATE_SETTLEMENT,
                "this purchase was already paid by another payment",
                identity.payer,
            )
        if claim.status is ClaimStatus.EXISTS:
            if claim.record is None:
                return self._pending(
                    network, "", identity.payer, "a concurrent attempt just released this payment"
                )
            return await self._existing(scheme, request, claim.record, claim.revision)

        revision = claim.revision
        try:
            verified = await scheme.verify_for_settle(request, identity)
            prepared = await scheme.prepare(request, verified)
        except Invalid as invalid:
            await self.ledger.release(identity.payment_id, revision, invalid.reason)
            return self._failure(network, invalid.reason, invalid.message, identity.payer)
        except BaseException:
            await self._release_quietly(identity.payment_id, revision)
            raise

        submitted = await self.ledger.submit(
            identity.payment_id, revision, prepared.transaction, prepared.hint
        )
        if not submitted.ok:
            return self._pending(network, "", identity.payer, "another attempt owns this payment")
        revision = submitted.revision
        return await self._broadcast_and_confirm(scheme, request, identity, prepared, revision)

    async def _broadcast_and_confirm(
        self, scheme: Scheme, request: VerifyRequest, identity: Identity, prepared: Prepared, revision: int
    ) -> SettleResponse:
        network = request.payment_requirements.network
        try:
            await scheme.broadcast(prepared)
        except Rejected as rejected:
            failure = self._failure(network, rejected.reason, rejected.message, identity.payer)
            if rejected.retryable:
                await self.ledger.release(identity.payment_id, revision, rejected.reason)
                return failure
            return await self._store_final(identity.payment_id, revision, failure)
        except Exception as exc:
            # The node may or may not have it: the record keeps the transaction for reconciliation.
            log.warning("broadcast of %s ended unclear: %s", prepared.transaction, exc)
            return self._pending(
                network, prepared.transaction, identity.payer, "broadcast outcome unknown yet"
            )
        outcome = await scheme.confirm(
            prepared.transaction, network, scheme.settle_timeout(request), prepared.context
        )
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
        return await self._conclude(record, revision, outcome)

    async def _existing(
        self, scheme: Scheme, request: VerifyRequest, record: SettlementRecord, revision: int
    ) -> SettleResponse:
        if record.response is not None:
            return record.response
        if time.time() - record.updated_at < OWNER_WINDOW_SECONDS:
            # A live attempt may be finishing this payment: wait (bounded) for its answer, so every
            # duplicate gets the same one rather than a bare `settlement_pending`.
            latest = await self._await_owner(record.payment_id, scheme.settle_timeout(request) + 1.0)
            if latest is None:
                return self._pending(
                    record.network, "", record.payer, "the first attempt did not settle; retry"
                )
            record, revision = latest
            if record.response is not None:
                return record.response
        if record.state is RecordState.SUBMITTED and record.transaction:
            outcome = await scheme.confirm(
                record.transaction, record.network, RETRY_CONFIRM_SECONDS, record.hint
            )
            if (
                outcome.status is Confirmation.DROPPED
                and time.time() - record.updated_at < OWNER_WINDOW_SECONDS
            ):
                # The owner may still be broadcasting: "unknown to the chain" proves nothing yet.
                outcome = Outcome(Confirmation.PENDING, message="settlement in progress")
            return await self._conclude(record, revision, outcome)
        return self._pending(record.network, record.transaction, record.payer, "settlement in progress")

    async def _await_owner(self, payment_id: str, budget: float) -> tuple[SettlementRecord, int] | None:
        """The record once final, or as it stands when `budget` runs out; None if it was released."""
        deadline = time.monotonic() + budget
        delay = 0.02
        while True:
            found = await self.ledger.lookup(payment_id)
            if not found.ok or found.record is None:
                return None
            if found.record.response is not None or time.monotonic() >= deadline:
                return found.record, found.revision
            await asyncio.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, 0.25)

    async def _conclude(self, record: SettlementRecord, revision: int, outcome: Outcome) -> SettleResponse:
        """Turn the chain's verdict on a submitted record into the answer, storing it when final."""
        if outcome.status is Confirmation.PENDING:
            return self._pending(record.network, record.transaction, record.payer, outcome.message)
        if outcome.status is Confirmation.DROPPED:
            await self.ledger.release(record.payment_id, revision, outcome.reason)
            return self._failure(
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
        return await self._store_final(record.payment_id, revision, final)

    async def _store_final(self, payment_id: str, revision: int, final: SettleResponse) -> SettleResponse:
        stored = await self.ledger.finalize(payment_id, revision, final)
        if stored.ok or stored.record is None or stored.record.response is None:
            return final
        return stored.record.response  # someone else finalized first: answer what the ledger holds

    async def _release_quietly(self, payment_id: str, revision: int) -> None:
        try:
            await self.ledger.release(payment_id, revision, "internal_error")
        except BusError:
            log.warning("could not release claim %s", payment_id)

    # ---- reconciliation -----------------------------------------------------------------------

    async def reconcile_once(self, older_than_seconds: float = OWNER_WINDOW_SECONDS) -> int:
        """Resolve records left pending (late confirmations, crashed workers). Returns how many moved."""
        pending = await self.ledger.pending(self.family, older_than_seconds)
        moved = 0
        schemes = {network: s for s in self.schemes for network in s.networks()}
        for record, revision in zip(pending.records, pending.revisions, strict=True):
            scheme = schemes.get(record.network)
            if scheme is None:
                continue
            if record.state is RecordState.CLAIMED:
                if time.time() - record.updated_at > STALE_CLAIM_SECONDS:
                    moved += (await self.ledger.release(record.payment_id, revision, "stale_claim")).ok
                continue
            outcome = await scheme.confirm(record.transaction, record.network, 0.5, record.hint)
            if outcome.status is not Confirmation.PENDING:
                await self._conclude(record, revision, outcome)
                moved += 1
        return moved

    # ---- answers ------------------------------------------------------------------------------

    @staticmethod
    def _failure(network: str, reason: str, message: str, payer: str | None) -> SettleResponse:
        return SettleResponse(
            success=False,
            transaction="",
            network=network,
            error_reason=str(reason),
            error_message=message or None,
            payer=payer,
        )

    @staticmethod
    def _pending(network: str, transaction: str, payer: str | None, message: str) -> SettleResponse:
        return SettleResponse(
            success=False,
            transaction=transaction,
            network=network,
            error_reason=Reason.SETTLEMENT_PENDING,
            error_message=message or "settlement in progress; retry for the outcome",
            payer=payer,
        )

    async def _audit(
        self, kind: str, request: VerifyRequest, outcome: str, identity: Identity | None, tx: str
    ) -> None:
        network = request.payment_requirements.network
        OUTCOMES.labels(kind, self.family, network, outcome).inc()
        event = AuditEvent(
            kind=kind,
            family=self.family,
            network=network,
            outcome=outcome,
            at=time.time(),
            payer=identity.payer if identity else "",
            payment_id=identity.payment_id if identity else "",
            transaction=tx,
        )
        # A settle outcome is appended once per payment and outcome, however often it is retried.
        headers = (
            {"Nats-Msg-Id": f"{identity.payment_id}:{outcome}"} if kind == "settle" and identity else None
        )
        try:  # core publish: the audit trail must never slow down or fail a payment
            await self.nc.publish(
                subjects.audit(kind, self.family), msgspec.json.encode(event), headers=headers
            )
        except Exception as exc:
            log.warning("audit publish failed: %s", exc)
