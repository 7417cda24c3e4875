"""A test worker for the foundation: a scheme double whose chain is a dict, counting broadcasts.

It stands in for a chain only; what these tests check (routing, the ledger's claim, limits, error
mapping, pending/reconcile flows) is all real: real nats-server, ledger, gateway and pipeline.
"""

import asyncio
from collections import Counter

import pytest

from tests.fixtures.stack import Stack
from x402fac.protocol import SupportedKind, VerifyRequest
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

TEST_NETWORK = "eip155:999001"


class LedgerBookScheme(Scheme):
    """Payload: {"id": str, "payer": str, "valid": bool, "forged": bool, "confirm_after": seconds}."""

    def __init__(self) -> None:
        self.broadcasts: Counter[str] = Counter()
        self.broadcast_at: dict[str, float] = {}
        self.hints: list[str] = []  # hints handed to resolve()
        self.arrivals: Counter[str] = Counter()  # settle/verify requests that reached the worker
        self.chain_reads: Counter[str] = Counter()  # verify checks (settle's verify_for_settle too)

    def networks(self) -> list[str]:
        return [TEST_NETWORK]

    def supported(self) -> SupportedPart:
        kind = SupportedKind(x402_version=2, scheme="exact", network=TEST_NETWORK, extra={"asset": "TEST"})
        return SupportedPart(kinds=[kind], signers={"eip155:*": ["0xfacade"]})

    async def identify(self, request: VerifyRequest) -> Identity[dict]:
        payload = request.payment_payload.payload
        if "id" not in payload:
            raise Invalid("invalid_payload", "no id")
        self.arrivals[payload["id"]] += 1
        payer = payload.get("payer", "alice")
        if payload.get("forged"):
            raise Invalid("invalid_signature", f"not signed by {payer}", payer)
        return Identity(
            payment_id=f"test/{payload['id']}",
            payer=payer,
            amount=request.payment_requirements.amount,
            payment=payload,
        )

    async def verify(self, request: VerifyRequest, identity: Identity[dict]) -> None:
        self.chain_reads[identity.payment["id"]] += 1
        if not identity.payment.get("valid", True):
            raise Invalid("invalid_signature", "test says invalid")

    async def prepare(
        self, request: VerifyRequest, identity: Identity[dict], checked: None = None
    ) -> Prepared[dict]:
        return Prepared(
            transaction=f"tx-{identity.payment_id}",
            network=TEST_NETWORK,
            attempt=identity.payment,
            hint=f"hint-{identity.payment_id}",
        )

    async def broadcast(self, prepared: Prepared[dict]) -> None:
        await asyncio.sleep(0.05)  # a node round trip, so concurrent duplicates overlap
        self.broadcasts[prepared.transaction] += 1
        delay = float(prepared.attempt.get("confirm_after", 0))
        self.broadcast_at[prepared.transaction] = asyncio.get_running_loop().time() + delay

    async def close(self) -> None:
        pass

    async def confirm(self, prepared: Prepared[dict], timeout: float) -> Outcome:
        return await self._chain_verdict(prepared.transaction, timeout)

    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        self.hints.append(submitted.hint)
        return await self._chain_verdict(submitted.transaction, timeout)

    async def _chain_verdict(self, transaction: str, timeout: float) -> Outcome:
        ready_at = self.broadcast_at.get(transaction)
        if ready_at is None:
            return Outcome(Confirmation.DROPPED, "settlement_failed", "never broadcast")
        wait = ready_at - asyncio.get_running_loop().time()
        if wait > timeout:
            await asyncio.sleep(timeout)
            return Outcome(Confirmation.PENDING, message="not confirmed yet")
        await asyncio.sleep(max(wait, 0))
        return Outcome(Confirmation.CONFIRMED)


def payment(
    payment_id: str, *, payer: str = "alice", amount: str = "1000", network: str = TEST_NETWORK, **payload
) -> dict:
    requirements = {
        "scheme": "exact",
        "network": network,
        "asset": "TEST",
        "amount": amount,
        "payTo": "bob",
        "maxTimeoutSeconds": payload.pop("max_timeout", 5),
    }
    return {
        "x402Version": 2,
        "paymentPayload": {
            "x402Version": 2,
            "accepted": dict(requirements),
            "payload": {"id": payment_id, "payer": payer, **payload},
        },
        "paymentRequirements": requirements,
    }


def payment_id_of(body: dict) -> str:
    """The ledger's id for a `payment` body: LedgerBookScheme's identity of it."""
    return f"test/{body['paymentPayload']['payload']['id']}"


@pytest.fixture(scope="module")
async def book_stack():
    stack = await Stack.start(payer_limit=3)
    scheme = LedgerBookScheme()
    await stack.start_worker("evm", [scheme], reconcile_interval=0.5)
    yield stack, scheme
    await stack.close()
