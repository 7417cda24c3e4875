"""The interface every network scheme implements, and the plain results it returns.

A worker serves one family (nano, evm, solana) and holds one `Scheme` object per scheme it speaks
(today only `exact`), each serving one or more networks. The generic pipeline (`pipeline.py`, `settle_states.py`) does
everything that is the same for every chain: routing, the ledger claim, per-payer limits, recording
the transaction id before broadcast, storing the final answer, reconciliation of pending records.
A scheme only does chain work.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, Self, TypeVar

from nats.aio.client import Client

from x402fac.protocol import SupportedKind, VerifyRequest
from x402fac.protocol.ledger import PaymentFacts


class Invalid(Exception):
    """A payment is not valid: `reason` is a `Reason` value (or a family code), `message` says why.

    Raise it anywhere in `identify`/`verify`/`prepare`; the pipeline turns it into the wire answer.
    """

    def __init__(self, reason: str, message: str = "", payer: str | None = None) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = str(reason)
        self.message = message
        self.payer = payer


P = TypeVar("P")  # a scheme's decoded, authenticated payment
A = TypeVar("A")  # a scheme's own record of one broadcast attempt


@dataclass(frozen=True, slots=True)
class Identity(Generic[P]):
    """A payment decoded from its bytes and authenticated (its signatures checked): the ledger key,
    who pays, and the decoded payment that `verify` and `prepare` work on (never parsed again)."""

    payment_id: str  # e.g. EVM chainId/asset/from/nonce, Nano block hash, Solana message hash
    payer: str
    amount: str  # atomic units, decimal string
    payment: P
    secondary_keys: tuple[str, ...] = ()  # further keys that must be unique (one purchase per memo)

    def facts(self, family: str, network: str) -> PaymentFacts:
        """What the ledger knows the payment by, on `network` of `family`."""
        return PaymentFacts(self.payment_id, family, network, self.payer, self.amount)


@dataclass(slots=True)
class Prepared(Generic[A]):
    """A transaction ready to broadcast; `transaction` is its id (tx hash / signature / block hash).

    `hint` is stored with the id in the ledger: what another process (after a crash) needs to tell a
    transaction that will never land from a late one, e.g. its blockhash, or its sender and nonce.
    """

    transaction: str
    network: str
    attempt: A
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Submitted:
    """A transaction some process recorded in the ledger, judged without that process's memory."""

    transaction: str
    network: str
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


class Scheme(ABC, Generic[P, A]):
    """One x402 scheme (e.g. `exact`) on one family; the pipeline calls it in this order:

    verify:  identify -> verify
    settle:  identify -> [ledger claim] and verify_for_settle side by side -> prepare -> [ledger submit]
             -> broadcast -> confirm(deadline) -> [ledger finalize]
    a record another attempt left: resolve(submitted) -> [ledger finalize]
    """

    name: str = "exact"
    # The settle's `amount` may be below the amount the payment authorized (`accepted.amount`): the
    # resource server charges what was used (`upto`). Otherwise the two must be equal.
    settles_up_to: bool = False
    # `prepare` takes something scarce that a transaction never sent gives back at a cost (an EVM
    # signer's nonce: a gap behind later transactions is filled by a transaction of our own, paid in
    # gas). Such a scheme claims first, so only the request that won the claim prepares; the others
    # prepare a new payment before its claim, which then records the transaction too.
    prepare_reserves: bool = False

    @abstractmethod
    def networks(self) -> list[str]:
        """CAIP-2 ids this scheme serves."""

    @abstractmethod
    def supported(self) -> SupportedPart: ...

    @abstractmethod
    async def identify(self, request: VerifyRequest) -> Identity[P]:
        """Decode and authenticate the payment; raise Invalid if malformed or not signed by its payer.

        Runs before the ledger is touched, so everything checkable without writing belongs here:
        signatures (an EVM contract wallet through its ERC-1271 check), shape, binding to payTo.
        """

    @abstractmethod
    async def verify(self, request: VerifyRequest, identity: Identity[P]) -> None:
        """Every other check, reading the chain but never writing; raise Invalid with the precise reason."""

    async def verify_for_settle(self, request: VerifyRequest, identity: Identity[P]) -> Any:
        """The checks settle needs, read-only: they run while the ledger claims the payment, and count
        only if this request wins the claim. `verify` unless a scheme does better (EVM: gas estimation
        executes the transfer, so it replaces the simulation). What it returns is handed to `prepare`
        (EVM: the gas plan)."""
        await self.verify(request, identity)
        return None

    @abstractmethod
    async def prepare(
        self, request: VerifyRequest, identity: Identity[P], checked: Any = None
    ) -> Prepared[A] | None:
        """Build and sign what will be broadcast; its id must be known before broadcasting. `checked`
        is what `verify_for_settle` returned (None when it did not run: `prepare` finds it itself).
        None: there is nothing to send (an `upto` payment charged 0), the payment is settled as it is.

        Raise `x402fac.bus.HandOff` when this replica cannot do it now (e.g. it holds no signer key at
        the moment): the claim is released and the request goes to another replica."""

    async def discard(self, prepared: Prepared[A]) -> None:
        """`prepared` will never be broadcast (the ledger refused to record it): free what it holds."""

    @abstractmethod
    async def broadcast(self, prepared: Prepared[A]) -> None:
        """Send it; raise Rejected when the node refuses it outright."""

    @abstractmethod
    async def confirm(self, prepared: Prepared[A], timeout: float) -> Outcome:
        """Wait up to `timeout` seconds for the chain's verdict on this process's own attempt."""

    @abstractmethod
    async def resolve(self, submitted: Submitted, timeout: float) -> Outcome:
        """The chain's verdict on a transaction another attempt recorded (it may have crashed, or be
        still broadcasting): judged from the chain and the recorded hint alone, waiting up to `timeout`."""

    async def start(self, nc: Client, replica: str) -> None:
        """Connected to NATS as replica `replica` (e.g. to lease signer keys from the shared pool)."""

    async def stop(self) -> None:
        """Draining: hand back what was leased, so another replica takes it over at once."""

    # Whether `can_settle` may change while the replica runs (it follows a signer lease): the worker
    # keeps asking it then; otherwise it stops once the settle work is open.
    settle_readiness_varies: ClassVar[bool] = False

    def can_settle(self) -> bool:
        """Whether this replica may take settle work now (an EVM replica needs a leased signer key)."""
        return True

    def status(self) -> dict[str, Any]:
        """What /health shows about this replica (keys held, ...)."""
        return {}

    @abstractmethod
    async def close(self) -> None:
        """Release connections and background tasks (the worker calls it on shutdown)."""

    def settle_timeout(self, request: VerifyRequest) -> float:
        """How long settle waits for confirmation before answering settlement_pending."""
        return float(min(max(request.payment_requirements.max_timeout_seconds, 1), 30))


C = TypeVar("C")  # a family's configuration of one network


class NetworkRuntime(ABC, Generic[C]):
    """What a family keeps per served network: built from the network's configuration (naming the
    CAIP-2 `network`) and the worker-wide options `rpc_timeout` and `confirm_poll` (the family's
    declared ones, `worker_defaults`, where not given); `open` builds its clients and watchers,
    `close` closes them at the end."""

    worker_defaults: Any  # the family's worker-wide settings as declared (`rpc_timeout`, `confirm_poll`)

    def __init__(
        self, config: C, *, rpc_timeout: float | None = None, confirm_poll: float | None = None
    ) -> None:
        self.config = config
        self.rpc_timeout = self.worker_defaults.rpc_timeout if rpc_timeout is None else rpc_timeout
        self.confirm_poll = self.worker_defaults.confirm_poll if confirm_poll is None else confirm_poll
        self.open()

    @abstractmethod
    def open(self) -> None:
        """Build the network's clients, watchers and caches (from `config` and the options)."""

    @abstractmethod
    async def close(self) -> None: ...


R = TypeVar("R", bound=NetworkRuntime)


class NetworkScheme(Scheme[P, A], Generic[R, P, A]):
    """A scheme that serves each configured network through its own runtime, found by CAIP-2 id in
    `runtimes`. `runtime_type` builds one from a network's configuration and the worker-wide options
    (`rpc_timeout`, `confirm_poll`; the family's defaults when not given)."""

    runtime_type: type[R]

    def __init__(self, networks: Iterable[Any], **runtime_options: Any) -> None:
        self.runtimes: dict[str, R] = {}
        for config in networks:
            self.runtimes[config.network] = self.runtime_type(config, **runtime_options)

    @classmethod
    def from_config(cls, config: Any) -> Self:
        """The scheme for a family's loaded configuration: its networks and worker-wide options."""
        return cls(config.networks, rpc_timeout=config.rpc_timeout, confirm_poll=config.confirm_poll)

    def networks(self) -> list[str]:
        return list(self.runtimes)

    async def close(self) -> None:
        for runtime in self.runtimes.values():
            await runtime.close()
