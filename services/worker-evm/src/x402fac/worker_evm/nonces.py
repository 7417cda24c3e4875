"""Facilitator signers and their transaction nonces.

Settles run concurrently, so nonces are handed out from memory (no chain round trip per settle, no
lock held across I/O other than a resync). The chain stays the authority: after any error, and
whenever the signer is idle, the manager resyncs from `eth_getTransactionCount` (a settle asks for
that early, `refresh`, so the round trip overlaps its ledger claim). A nonce must never be
left as a gap (every later transaction of the signer would wait behind it forever), so:

- a refused broadcast returns its nonce to a free pool: the next settle reuses it;
- a reservation whose transaction is never broadcast (the pipeline stopped between prepare and
  broadcast) is abandoned after a while and its nonce returned to the pool;
- a free nonce that no settle reuses soon, while later transactions wait behind it, is filled with
  a zero-value transfer to the signer itself;
- a broadcast whose delivery is unknown (timeout) keeps its nonce and is re-sent, same bytes, until
  the chain has it or the nonce is consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

import coincurve

from x402fac.bus import cancel_and_wait
from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Rejected

from .chain import EvmRpc, RpcError
from .transactions import DynamicFeeTransaction, address_of

log = logging.getLogger(__name__)

ABANDON_AFTER = 15.0  # a prepared transaction not broadcast by then never will be (ledger timeout 5 s)
FILL_AFTER = 1.0  # a free nonce left unused this long, with transactions waiting behind it, is filled
RESEND_AFTER = 3.0  # an unclear or unmined broadcast is re-sent (same bytes) after this long
MAINTENANCE_INTERVAL = 0.5
# A resync this recent (the settle's own `refresh`, moments before) serves an idle signer's next nonce.
RESYNC_FRESH_FOR = 1.0
HISTORY = 10_000  # tx hash -> nonce, for proving a transaction was replaced


class SlotState(Enum):
    RESERVED = "reserved"  # handed to a settle, not broadcast yet
    SENT = "sent"  # the node accepted it
    UNCLEAR = "unclear"  # the broadcast may or may not have reached a node


@dataclass(slots=True)
class Slot:
    nonce: int
    state: SlotState
    since: float
    tx_hash: str = ""
    raw: bytes = b""


def _already_has_it(error: RpcError) -> bool:
    message = error.message.lower()
    return "already known" in message or "known transaction" in message or "already imported" in message


def _nonce_taken(error: RpcError) -> bool:
    message = error.message.lower()
    return (
        "nonce too low" in message
        or "replacement transaction underpriced" in message
        or ("nonce" in message and "already" in message)
    )


class NonceManager:
    """Nonces of one signer address on one network."""

    def __init__(
        self,
        rpc: EvmRpc,
        address: str,
        sign_filler: Callable[[int], Awaitable[tuple[str, bytes]]],
    ) -> None:
        self.rpc = rpc
        self.address = address
        self._sign_filler = sign_filler
        self._next: int | None = None  # lowest nonce never handed out
        self._free: list[int] = []  # heap of nonces to hand out again
        self._free_since: dict[int, float] = {}
        self._slots: dict[int, Slot] = {}
        self._history: OrderedDict[str, int] = OrderedDict()
        self._abandoned: set[str] = set()
        self._mined_floor = 0  # every nonce below this is known mined (a lagging node cannot undo that)
        self._dirty = True
        self._synced_at = 0.0  # when the last resync ended (monotonic)
        self._lock = asyncio.Lock()
        self._maintenance: asyncio.Task | None = None
        # Whether this process may send with the key now (a replica holds its lease): re-sends and gap
        # fills stop the moment it may not, because another replica may be using the nonces.
        self.may_send: Callable[[], bool] = lambda: True

    @property
    def in_flight(self) -> int:
        return len(self._slots)

    # ---- handing out ---------------------------------------------------------------------------

    @property
    def resync_due(self) -> bool:
        """Whether `refresh` would resync (after an error, or while idle)."""
        return self._dirty or not self._slots

    async def refresh(self) -> None:
        """Resync now if the next `reserve` would (after an error, or while idle), so it need not.
        A failure is left for that `reserve` to meet."""
        if self.resync_due:
            async with self._lock:
                if self._dirty or not self._slots:
                    with contextlib.suppress(RpcError, NodeUnavailable):
                        await self._resync()

    async def reserve(self) -> int:
        async with self._lock:
            fresh = time.monotonic() - self._synced_at < RESYNC_FRESH_FOR
            if self._dirty or (not self._slots and not fresh):
                await self._resync()
            assert self._next is not None
            if self._free:
                nonce = heapq.heappop(self._free)
                self._free_since.pop(nonce, None)
            else:
                nonce = self._next
                self._next += 1
            self._slots[nonce] = Slot(nonce, SlotState.RESERVED, time.monotonic())
        self._ensure_maintenance()
        return nonce

    def resync_later(self) -> None:
        """Read the next nonce from the chain before handing out another one (a key this replica
        just took over from another replica, which may have used it meanwhile)."""
        self._dirty = True

    def attach(self, nonce: int, tx_hash: str, raw: bytes) -> None:
        """The signed transaction that will use a reserved nonce."""
        slot = self._slots[nonce]
        slot.tx_hash, slot.raw = tx_hash, raw
        self._remember(tx_hash, nonce)

    def release(self, nonce: int) -> None:
        """A reserved nonce whose transaction will not be sent (signing failed, ...)."""
        slot = self._slots.get(nonce)
        if slot is not None and slot.state is SlotState.RESERVED:
            del self._slots[nonce]
            self._free_nonce(nonce)

    async def send(self, nonce: int, tx_hash: str) -> None:
        """Broadcasts the transaction attached to `nonce`.

        Raises Rejected when nothing was sent (the payment may be settled again), NodeUnavailable
        when delivery is unknown (the nonce stays held; the transaction is re-sent later).
        """
        slot = self._slots.get(nonce)
        if slot is None or slot.state is not SlotState.RESERVED or slot.tx_hash != tx_hash:
            raise Rejected(Reason.SETTLEMENT_FAILED, "the prepared transaction expired; nothing was sent")
        try:
            # Sent with the other calls of this moment: settles whose claims came back together go
            # to the node in one request (a node mining on arrival mines them in fewer blocks).
            await self.rpc.write("eth_sendRawTransaction", "0x" + slot.raw.hex())
        except RpcError as error:
            if _already_has_it(error) or await self._node_has(tx_hash):
                slot.state, slot.since = SlotState.SENT, time.monotonic()
                return
            if _nonce_taken(error):
                # Someone else used this nonce (a transaction sent behind our back): resync.
                del self._slots[nonce]
                self._dirty = True
            else:
                self.release(nonce)
                self._dirty = True
            raise Rejected(
                Reason.SETTLEMENT_FAILED,
                f"the node refused the transaction: {error.message}; nothing was sent",
            ) from error
        except NodeUnavailable as error:
            if not error.maybe_delivered:
                self.release(nonce)
                self._dirty = True
                raise Rejected(Reason.NODE_UNAVAILABLE, str(error)) from error
            slot.state, slot.since = SlotState.UNCLEAR, time.monotonic()
            self._ensure_maintenance()
            raise
        slot.state, slot.since = SlotState.SENT, time.monotonic()

    def mined(self, tx_hash: str) -> None:
        """The chain included `tx_hash` (whatever its status): its nonce is consumed."""
        nonce = self._history.get(tx_hash)
        slot = self._slots.get(nonce) if nonce is not None else None
        if nonce is not None:
            self._mined_floor = max(self._mined_floor, nonce + 1)
        if slot is not None and slot.tx_hash == tx_hash:
            del self._slots[nonce]

    def nonce_of(self, tx_hash: str) -> int | None:
        return self._history.get(tx_hash)

    def abandoned(self, tx_hash: str) -> bool:
        """Whether `tx_hash` was prepared here but never broadcast (its nonce went to another tx)."""
        return tx_hash in self._abandoned

    # ---- keeping in step with the chain ---------------------------------------------------------

    async def _counts(self) -> tuple[int, int]:
        """(latest, pending) transaction counts. The latest one only tells which of our transactions
        in flight were mined: with none (an idle signer; slots are added only under the lock a resync
        holds) the pending count alone is asked, and stands for both."""
        tags = ["latest", "pending"] if self._slots else ["pending"]
        counts = await self.rpc.batch([("eth_getTransactionCount", [self.address, tag]) for tag in tags])
        for result in counts:
            if isinstance(result, RpcError):
                raise result
        floor = self._mined_floor
        return max(int(counts[0], 16), floor), max(int(counts[-1], 16), floor)

    async def _resync(self) -> None:
        latest, pending = await self._counts()
        for nonce, slot in list(self._slots.items()):
            if nonce < latest and slot.state is not SlotState.RESERVED:
                del self._slots[nonce]  # mined (ours, or replaced by another)
        self._free = [n for n in self._free if n >= pending]
        heapq.heapify(self._free)
        self._free_since = {n: t for n, t in self._free_since.items() if n >= pending}
        if self._next is None or pending >= self._next:
            self._next = max(pending, max(self._slots, default=-1) + 1)
        else:
            # Nonces below our next one that nobody holds and the node does not have are gaps.
            held = set(self._slots) | set(self._free)
            for nonce in range(pending, self._next):
                if nonce not in held:
                    self._free_nonce(nonce)
        self._dirty = False
        self._synced_at = time.monotonic()

    def _free_nonce(self, nonce: int) -> None:
        assert self._next is not None
        heapq.heappush(self._free, nonce)
        self._free_since[nonce] = time.monotonic()
        # Free nonces at the top, with nothing handed out above them, are simply unused: no gap.
        top = self._next - 1
        while top in self._free_since and not any(n > top for n in self._slots):
            self._free.remove(top)
            del self._free_since[top]
            self._next = top
            top -= 1
        heapq.heapify(self._free)
        if self._free:
            self._ensure_maintenance()

    def _remember(self, tx_hash: str, nonce: int) -> None:
        self._history[tx_hash] = nonce
        while len(self._history) > HISTORY:
            old, _ = self._history.popitem(last=False)
            self._abandoned.discard(old)

    async def _node_has(self, tx_hash: str) -> bool:
        try:
            return await self.rpc.call("eth_getTransactionByHash", tx_hash) is not None
        except (RpcError, NodeUnavailable):
            return False

    def _ensure_maintenance(self) -> None:
        if self._maintenance is None or self._maintenance.done():
            self._maintenance = asyncio.create_task(self._maintain())

    async def _maintain(self) -> None:
        while self._slots or self._free:
            await asyncio.sleep(MAINTENANCE_INTERVAL)
            try:
                await self._maintain_once()
            except (RpcError, NodeUnavailable) as exc:
                self._dirty = True
                log.warning("nonce maintenance for %s failed: %s", self.address, exc)

    async def _maintain_once(self) -> None:
        now = time.monotonic()
        for slot in list(self._slots.values()):
            if slot.state is SlotState.RESERVED and now - slot.since > ABANDON_AFTER:
                log.warning("abandoning nonce %d of %s (prepared, never broadcast)", slot.nonce, self.address)
                if slot.tx_hash:
                    self._abandoned.add(slot.tx_hash)
                del self._slots[slot.nonce]
                self._free_nonce(slot.nonce)
        stale = [
            s
            for s in self._slots.values()
            if s.state is not SlotState.RESERVED and now - s.since > RESEND_AFTER
        ]
        if not (stale or self._free or self._dirty):
            return
        if not self.may_send():
            self._dirty = True  # read again from the chain if this key comes back
            return
        async with self._lock:
            await self._resync()
        for slot in stale:
            if self._slots.get(slot.nonce) is slot:
                await self._resend(slot)
        await self._fill_gaps()

    async def _resend(self, slot: Slot) -> None:
        """Same bytes again: a transaction whose delivery was unclear, or that the node dropped."""
        try:
            await self.rpc.call("eth_sendRawTransaction", "0x" + slot.raw.hex())
        except RpcError as error:
            if not (_already_has_it(error) or _nonce_taken(error)):
                log.warning("re-sending %s failed: %s", slot.tx_hash, error)
                return
        except NodeUnavailable:
            return
        slot.state, slot.since = SlotState.SENT, time.monotonic()

    async def _fill_gaps(self) -> None:
        now = time.monotonic()
        waiting_above = max(
            (n for n, s in self._slots.items() if s.state is not SlotState.RESERVED), default=-1
        )
        for nonce in sorted(self._free):
            if nonce > waiting_above or now - self._free_since.get(nonce, now) < FILL_AFTER:
                continue
            async with self._lock:
                if nonce not in self._free_since:
                    continue  # a settle took it meanwhile
                self._free.remove(nonce)
                heapq.heapify(self._free)
                del self._free_since[nonce]
                self._slots[nonce] = Slot(nonce, SlotState.RESERVED, time.monotonic())
            try:
                tx_hash, raw = await self._sign_filler(nonce)
                self.attach(nonce, tx_hash, raw)
                await self.send(nonce, tx_hash)
                log.warning("filled nonce gap %d of %s with %s", nonce, self.address, tx_hash)
            except (Rejected, RpcError, NodeUnavailable) as exc:
                log.warning("filling nonce %d of %s failed: %s", nonce, self.address, exc)
                self._dirty = True

    async def close(self) -> None:
        await cancel_and_wait(self._maintenance)


@dataclass(slots=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class Signer:
    """A facilitator key on one network: signs EIP-1559 transactions with nonces from its manager."""

    def __init__(
        self, rpc: EvmRpc, chain_id: int, private_key: str, fees: Callable[[], Awaitable[Fees]]
    ) -> None:
        self._key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
        self.address: str = address_of(self._key)
        self.chain_id = chain_id
        self._fees = fees
        self.nonces = NonceManager(rpc, self.address, self._filler)

    def sign(
        self, nonce: int, to: str, data: bytes, gas: int, fees: Fees, value: int = 0
    ) -> tuple[str, bytes]:
        fee_caps = (fees.max_priority_fee_per_gas, fees.max_fee_per_gas)
        return DynamicFeeTransaction(self.chain_id, nonce, *fee_caps, gas, to, value, data).sign(self._key)

    async def _filler(self, nonce: int) -> tuple[str, bytes]:
        return self.sign(nonce, self.address, b"", 21_000, await self._fees())
