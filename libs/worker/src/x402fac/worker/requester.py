"""One settle request as a worker handles it: who asks, until when, and whether it holds its payment."""

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

# How long a settle request that arrives without the gateway's deadline is waited for.
DEFAULT_WAIT_SECONDS = 30.0
# Kept before the requester's deadline to store the answer and carry it back.
FINALIZE_RESERVE_SECONDS = 0.3


@dataclass(slots=True)
class Requester:
    """One settle request: who asks (a gateway's request id) and until when it waits for the answer.

    Each handling of the request is an *attempt* with its own id; through it the request holds its
    payment's record (attached, or the success delivered to it) from the claim until the ledger
    confirms it let go (docs/design.md, 2.5)."""

    id: str
    deadline: float  # epoch seconds
    payment_id: str = ""  # the payment it is attached to, once claimed
    detached: bool = False  # it stopped waiting (hung up): it must not be handed a success
    api_key_id: str = ""  # the API key it came with (its audit entry names it, for usage)
    attempt: str = field(default_factory=lambda: uuid.uuid4().hex)  # this handling of the request
    _holds: bool = field(default=False, repr=False)

    @classmethod
    def new(cls, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> "Requester":
        return cls(uuid.uuid4().hex, time.time() + wait_seconds)

    def remaining(self) -> float:
        """Seconds left for chain work before the answer must be on its way."""
        return max(0.0, self.deadline - time.time() - FINALIZE_RESERVE_SECONDS)

    def attach(self, payment_id: str) -> None:
        """The ledger attached this attempt to `payment_id`'s record (or delivered its success here)."""
        self.payment_id, self._holds = payment_id, True

    def detach(self) -> None:
        """The ledger confirmed this attempt holds the record no more."""
        self._holds = False

    @property
    def holds(self) -> bool:
        """It may hold a record in the ledger: it must let go before answering without the success."""
        return self._holds and bool(self.payment_id)


class DetachedRequests:
    """Request ids whose callers stopped waiting before any replica took their work item.

    The gateway's detach reaches every replica at once, but a request still queued is held by none of
    them; the replica that takes it later must know it is nobody's to answer, or it would attach the
    request to its payment and hold the success away from the caller's retry."""

    def __init__(self, keep_seconds: float, most: int) -> None:
        self.keep_seconds = keep_seconds  # past any request's deadline: by then the deadline decides
        self.most = most  # bounded memory, whatever the rate of hang-ups
        self._until: OrderedDict[str, float] = OrderedDict()  # in the order heard, so oldest first

    def remember(self, request_id: str) -> None:
        now = time.monotonic()
        self._until[request_id] = now + self.keep_seconds
        self._until.move_to_end(request_id)
        while self._until and (len(self._until) > self.most or next(iter(self._until.values())) < now):
            self._until.popitem(last=False)

    def __contains__(self, request_id: str) -> bool:
        until = self._until.get(request_id)
        return until is not None and until >= time.monotonic()

    def __len__(self) -> int:
        return len(self._until)
