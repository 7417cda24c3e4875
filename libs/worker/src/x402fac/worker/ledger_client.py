"""Typed calls to the ledger service (`x402.ledger.*`)."""

import asyncio
import time

from nats.aio.client import Client

from x402fac.bus import BusError, request, subjects
from x402fac.protocol import SettleResponse
from x402fac.protocol.ledger import (
    ClaimReply,
    DetachRequest,
    FinalizeRequest,
    LookupRequest,
    PendingReply,
    PendingRequest,
    ReleaseReason,
    ReleaseRequest,
    SubmitRequest,
    UpdateReply,
)

from .scheme import Identity


class LedgerClient:
    def __init__(self, nc: Client, timeout: float = 5.0) -> None:
        self.nc = nc
        self.timeout = timeout

    async def claim(
        self,
        identity: Identity,
        family: str,
        network: str,
        requester: str,
        deadline: float,
        attempt: str = "",
        transaction: str = "",
        hint: str = "",
    ) -> ClaimReply:
        """Claim the payment; with `transaction` (prepared, not sent yet) a new record holds it at once."""
        facts = identity.facts(family, network)
        message = facts.claim(requester, deadline, attempt, list(identity.secondary_keys), transaction, hint)
        return await request(self.nc, subjects.LEDGER_CLAIM, message, ClaimReply, self.timeout)

    async def submit(self, payment_id: str, revision: int, transaction: str, hint: str = "") -> UpdateReply:
        message = SubmitRequest(payment_id=payment_id, revision=revision, transaction=transaction, hint=hint)
        return await request(self.nc, subjects.LEDGER_SUBMIT, message, UpdateReply, self.timeout)

    async def finalize(
        self,
        payment_id: str,
        revision: int,
        response: SettleResponse,
        requester: str = "",
        until: float = 0.0,
        attempt: str = "",
    ) -> UpdateReply:
        """Store the verdict; with `until` (epoch seconds) a failed call is tried again until then.

        Finalize is safe to repeat (a stored verdict stays, a success handed to `requester` is found
        again by it), and a ledger briefly unable to write (a NATS node restarting, its streams electing
        a leader) should not turn a confirmed payment into `settlement_pending`.
        """
        message = FinalizeRequest(
            payment_id=payment_id, revision=revision, response=response, requester=requester, attempt=attempt
        )
        return await self._until(subjects.LEDGER_FINALIZE, message, until)

    async def release(self, payment_id: str, revision: int, reason: ReleaseReason) -> UpdateReply:
        message = ReleaseRequest(payment_id=payment_id, revision=revision, reason=reason)
        return await request(self.nc, subjects.LEDGER_RELEASE, message, UpdateReply, self.timeout)

    async def detach(self, payment_id: str, requester: str, attempt: str = "", until: float = 0.0) -> bool:
        """True once the ledger confirmed `requester` (through `attempt`) holds the record no more;
        tried again until `until` (epoch seconds) while the ledger does not answer or the record keeps
        changing under it."""
        message = DetachRequest(payment_id=payment_id, requester=requester, attempt=attempt)
        while True:
            reply = await self._until(subjects.LEDGER_DETACH, message, until)
            if reply.ok or time.time() >= until:
                return reply.ok
            await asyncio.sleep(0.05)

    async def _until(self, subject: str, message: object, until: float) -> UpdateReply:
        """One request, tried again after a bus failure while `until` allows (0: once)."""
        delay = 0.2
        while True:
            timeout = min(self.timeout, until - time.time()) if until else self.timeout
            try:
                return await request(self.nc, subject, message, UpdateReply, max(timeout, 0.1))
            except BusError:
                if time.time() + delay >= until:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def lookup(self, payment_id: str) -> UpdateReply:
        return await request(
            self.nc, subjects.LEDGER_LOOKUP, LookupRequest(payment_id), UpdateReply, self.timeout
        )

    async def pending(self, family: str, older_than_seconds: float, limit: int = 100) -> PendingReply:
        message = PendingRequest(family=family, older_than_seconds=older_than_seconds, limit=limit)
        return await request(self.nc, subjects.LEDGER_PENDING, message, PendingReply, self.timeout)
