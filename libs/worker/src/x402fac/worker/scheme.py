"""The interface every network scheme implements, and the plain results it returns.

A worker serves one family (nano, evm, solana) and holds one `Scheme` object per scheme it speaks
(today only `exact`), each serving one or more networks. The generic pipeline in `pipeline.py` does
everything that is the same for every chain: routing, the ledger claim, per-payer limits, recording
the transaction id before broadcast, storing the final answer, reconciliation of pending records.
A scheme only does chain work.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from x402fac.protocol import SupportedKind, VerifyRequest


class Invalid(Exception):
    """A payment is not valid: `reason` is a `Reason` value (or a family code), `message` says why.

    Raise it anywhere in `identify`/`verify`/`prepare`; the pipeline turns it into the wire answer.
    """

    def __init__(self, reason: str, message: str = "", payer: str | None = None) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = str(reason)
        self.message = message
        self.payer = payer


@dataclass(frozen=True, slots=True)
class Identity:
    """What a payment is, read from its bytes alone (no chain access): the ledger key and who pays."""

    payment_id: str  # e.g. EVM chainId/asset/from/nonce, Nano block hash, Solana message hash
    payer: str
    amount: str  # atomic units, decimal string
    secondary_keys: tuple[str, ...] = ()  # further keys that must be unique (one purchase per memo)


@dataclass(slots=True)
class Verified:
    """A payment that passed every check; `context` carries what `prepare` needs (decoded tx, ...)."""

    identity: Identity
    context: Any = None


@dataclass(slots=True)
class Prepared:
    """A transaction ready to broadcast; `transaction` is its id (tx hash / signature / block hash).

    `hint` is stored with the id in the ledger: what another process (after a crash) needs to tell a
    transaction that will never land from a late one, e.g. its blockhash, or its sender and nonce.
    """

    transaction: str
    context: Any = None
    hint: str = ""


class Confirmation(StrEnum):
    CONFIRMED = "confirmed"
    FAILED = "failed"  # on-chain failure (reverted, lost a fork): final
    PENDING = "pending"  # not known yet (not mined / not confirmed in time)
    DROPPED = "dropped"  # the chain never saw it and never will (expired blockhash, ...): final, unpaid


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Confirmation
    reason: str = ""  # for FAILED / DROPPED
    message: str = ""


class Rejected(Exception):
    """The broadcast was refused before reaching the chain (nothing was paid).

    `retryable` means the same payment may be settled later (the claim is released);
    otherwise the failure is recorded as final.
    """

    def __init__(self, reason: str, message: str = "", retryable: bool = True) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = str(reason)
        self.message = message
        self.retryable = retryable


@dataclass(slots=True)
class SupportedPart:
    """A worker's contribution to `GET /supported`."""

    kinds: list[SupportedKind] = field(default_factory=list)
    signers: dict[str, list[str]] = field(default_factory=dict)
    extensions: list[str] = field(default_factory=list)


class Scheme(ABC):
    """One x402 scheme (e.g. `exact`) on one family; the pipeline calls it in this order:

    verify:  identify -> verify
    settle:  identify -> [ledger claim] -> verify_for_settle -> prepare -> [ledger submit] -> broadcast
             -> confirm(deadline) -> [ledger finalize]
    retry of a pending record: confirm(transaction) -> [ledger finalize]
    """

    name: str = "exact"

    @abstractmethod
    def networks(self) -> list[str]:
        """CAIP-2 ids this scheme serves."""

    @abstractmethod
    def supported(self) -> SupportedPart: ...

    @abstractmethod
    def identify(self, request: VerifyRequest) -> Identity:
        """Decode the payload into its identity without chain access; raise Invalid if malformed."""

    @abstractmethod
    async def verify(self, request: VerifyRequest, identity: Identity) -> Verified:
        """Every check, reading the chain but never writing; raise Invalid with the precise reason."""

    async def verify_for_settle(self, request: VerifyRequest, identity: Identity) -> Verified:
        """The checks settle runs after winning the claim: `verify` unless a scheme can skip a step
        that `prepare` repeats anyway (EVM: gas estimation executes the transfer, so no simulation)."""
        return await self.verify(request, identity)

    @abstractmethod
    async def prepare(self, request: VerifyRequest, verified: Verified) -> Prepared:
        """Build and sign what will be broadcast; its id must be known before broadcasting."""

    @abstractmethod
    async def broadcast(self, prepared: Prepared) -> None:
        """Send it; raise Rejected when the node refuses it outright."""

    @abstractmethod
    async def confirm(self, transaction: str, network: str, timeout: float, context: Any = None) -> Outcome:
        """Wait up to `timeout` seconds for the chain's verdict on `transaction`.

        `context` is the Prepared.context of this process's own attempt; when resolving a record left
        by another attempt it is the `Prepared.hint` string that attempt stored ("" if none).
        """

    @abstractmethod
    async def close(self) -> None:
        """Release connections and background tasks (the worker calls it on shutdown)."""

    def settle_timeout(self, request: VerifyRequest) -> float:
        """How long settle waits for confirmation before answering settlement_pending."""
        return float(min(max(request.payment_requirements.max_timeout_seconds, 1), 30))
