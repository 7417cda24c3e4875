"""Settlement records on JetStream KV: the one place that decides whether a payment may settle.

Every transition is a compare-and-set on the record revision; `create` is the atomic claim.

A record that is not final and that nobody works on any more has a key in the pending bucket, which
the reconcilers list (so reconciliation never scans settled history). One still being worked on has
none: its attempt finishes it, or, should that attempt's worker die, the next delivery of its work
item does. So a settle writes nothing to the index; the index learns of a record when its attempt lets
it go unfinished (`detach`: answered pending, or given up), or, when nobody ever lets it go (its worker
died and its work item never came again), when the replica that attached the attempt finds it still
unfinished past its deadline (`index_overdue`, every `OVERDUE_PASS_SECONDS`).
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import APIError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from x402fac.bus import cancel_and_wait, counters, encode_key, subjects
from x402fac.protocol.ledger import (
    FINAL_STATES,
    ClaimReply,
    ClaimRequest,
    ClaimStatus,
    DetachRequest,
    FinalizeRequest,
    PendingReply,
    PendingRequest,
    RecordState,
    ReleaseRequest,
    SettlementRecord,
    SubmitRequest,
    UpdateReply,
)
from x402fac.telemetry import LEDGER_CLAIMS

from .config import LedgerConfig
from .pending_index import PendingIndex
from .schema import declare

log = logging.getLogger(__name__)
CLAIM_ATTEMPTS = 8  # compare-and-set rounds before a contended record is reported busy
KNOWN_RECORDS = 10_000  # records kept in memory by (payment id, revision), saving a read per transition
_record_decoder = msgspec.json.Decoder(SettlementRecord)
# A delete with an expected revision reports a lost race as a plain API error with this code.
WRONG_LAST_SEQUENCE = 10071
# How long past its attempt's deadline a record may stay unfinished and unindexed: the attempt lets it
# go (and indexes it) as soon as it answers, which is at its deadline at the latest.
OVERDUE_GRACE_SECONDS = 5.0
OVERDUE_PASS_SECONDS = 5.0


def _lost_race(exc: APIError) -> bool:
    return isinstance(exc, KeyWrongLastSequenceError) or exc.err_code == WRONG_LAST_SEQUENCE


_encode = msgspec.json.encode


class LedgerStore:
    def __init__(self, js: JetStreamContext, config: LedgerConfig) -> None:
        self.js = js
        self.config = config
        self.records: KeyValue
        self.secondary: KeyValue
        self.pending: KeyValue
        self.keys: KeyValue
        self.whitelist: KeyValue
        self.discovery: KeyValue
        self.payment_ids: KeyValue
        self._known: OrderedDict[tuple[str, int], SettlementRecord] = OrderedDict()
        self._background: set[asyncio.Task] = set()
        # Records this replica attached an attempt to and has not seen finished or let go:
        # payment id -> when it is overdue (epoch seconds).
        self._attached: dict[str, float] = {}
        self._overdue_pass: asyncio.Task | None = None

    def _in_background(self, work: Coroutine) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Finish the index clean-ups still running, stop following the pending index."""
        await cancel_and_wait(self._overdue_pass)
        if self._background:
            await asyncio.wait(set(self._background), timeout=5.0)
        await self.pending_index.stop()

    async def open(self) -> None:
        """Declare every bucket and stream x402fac uses (`schema.declare`), follow the pending index."""
        buckets = await declare(self.js, self.config)
        self.records, self.secondary, self.pending = buckets.records, buckets.secondary, buckets.pending
        self.keys, self.whitelist, self.discovery = buckets.keys, buckets.whitelist, buckets.discovery
        self.payment_ids = buckets.payment_ids
        for status in ClaimStatus:  # every answer exported from the start (0 until it happens)
            LEDGER_CLAIMS.labels(status.value)
        self.pending_index = PendingIndex(self.pending)
        await self.pending_index.start()
        self._overdue_pass = asyncio.create_task(self._index_overdue_forever())

    async def get(self, payment_id: str) -> tuple[SettlementRecord, int] | None:
        try:
            entry = await self.records.get(encode_key(payment_id))
        except NotFoundError:
            return None
        if not entry.value:
            return None
        return _record_decoder.decode(entry.value), entry.revision

    async def claim(self, request: ClaimRequest) -> ClaimReply:
        reply = await self._claim(request)
        LEDGER_CLAIMS.labels(reply.status.value).inc()
        return reply

    async def _claim(self, request: ClaimRequest) -> ClaimReply:
        """Create the record (the atomic claim), or attach the requester to the existing one."""
        key = encode_key(request.payment_id)
        for _ in range(CLAIM_ATTEMPTS):
            now = time.time()
            # A claim carrying its transaction records it before it is broadcast (2.3): submitted.
            record = request.record(
                RecordState.SUBMITTED if request.transaction else RecordState.CLAIMED,
                now,
                transaction=request.transaction,
                hint=request.hint,
                secondary_keys=list(request.secondary_keys),
                attached=request.requester,
                attached_until=request.deadline,
                attempt=request.attempt,
            )
            # The secondary keys are taken in the same breath as the record is created (one round trip
            # less per claim); only the record's creator keeps them (`_admit`), and a copy undoes what
            # it took for a payment that failed (below): entries held by a payment that is not failed
            # are that payment's.
            created, *held = await asyncio.gather(
                self.records.create(key, _encode(record)),
                *(
                    self._take_secondary(secondary, request.payment_id)
                    for secondary in request.secondary_keys
                ),
                return_exceptions=True,
            )
            if isinstance(created, KeyWrongLastSequenceError):
                existing = await self.get(request.payment_id)
                if existing is None:  # claimed and released in between: claim it anew
                    continue
                if existing[0].state is RecordState.FAILED and any(taken is True for taken in held):
                    # A failed payment holds no secondary key (finalize let them go): nor do copies.
                    await self._release_secondary(existing[0])
                reply = await self._attach(existing[0], existing[1], request)
                if reply is not None:
                    return reply
                continue  # the record changed under us: decide again on the newer one
            if isinstance(created, BaseException):
                raise created
            revision = created
            self._remember(record, revision)
            reply = await self._admit(record, revision, request, held)
            if reply.status is ClaimStatus.CLAIMED:
                self._watch(record)
            return reply
        return ClaimReply(ClaimStatus.BUSY, record=(await self.get(request.payment_id) or (None, 0))[0])

    async def _admit(
        self, record: SettlementRecord, revision: int, request: ClaimRequest, taken: list
    ) -> ClaimReply:
        """Limits and secondary keys, checked only by the one caller that created the record, so
        concurrent duplicates of one payment count once; a refused claim is dropped again, with the
        secondary keys it took. `taken`: what `_take_secondary` found for each secondary key."""
        key = encode_key(request.payment_id)
        retry_after = await self._over_payer_limit(request)
        if retry_after:
            await self._release_secondary(record)
            await self.records.delete(key, last=revision)
            return ClaimReply(ClaimStatus.RATE_LIMITED, retry_after=retry_after)
        for secondary, found in zip(request.secondary_keys, taken, strict=True):
            if isinstance(found, BaseException):  # unclear: taken or not, it is asked again
                found = await self._take_secondary(secondary, request.payment_id)
            if found is False:
                await self._release_secondary(record)
                await self.records.delete(key, last=revision)
                return ClaimReply(ClaimStatus.DUPLICATE)
        return ClaimReply(ClaimStatus.CLAIMED, revision=revision, record=record)

    async def _attach(
        self, record: SettlementRecord, revision: int, request: ClaimRequest
    ) -> ClaimReply | None:
        """What a copy of an existing payment gets; None when the record moved meanwhile."""
        now = time.time()
        if (
            request.transaction
            and record.state is RecordState.SUBMITTED
            and record.transaction == request.transaction
            and record.attached == request.requester
            and record.attempt == request.attempt
        ):
            # This very claim made again (its answer was lost): the record it created, as created.
            self._watch(record)
            return ClaimReply(ClaimStatus.CLAIMED, revision=revision, record=record)
        if record.state is RecordState.FAILED:
            return ClaimReply(ClaimStatus.FAILED, revision=revision, record=record)
        if record.delivered_at:
            if record.delivered_to != request.requester or record.attempt == request.attempt:
                return ClaimReply(ClaimStatus.DELIVERED, revision=revision, record=record)
            # The request that got the success came again (its work item was delivered anew): this
            # attempt now carries the success, and is the one to give it back if it does not arrive.
            taken = msgspec.structs.replace(record, attempt=request.attempt)
            status = ClaimStatus.DELIVERED
        elif record.attached != request.requester and record.attached_live(now):
            return ClaimReply(ClaimStatus.BUSY, revision=revision, record=record)
        else:
            # Nobody waits for this payment's answer: this requester takes it over (the new revision
            # also fences off an earlier owner that has not submitted yet, and an earlier attempt's
            # finalize no longer delivers).
            taken = msgspec.structs.replace(
                record, attached=request.requester, attached_until=request.deadline, attempt=request.attempt
            )
            status = ClaimStatus.ATTACHED
        try:
            new_revision = await self.records.update(
                encode_key(record.payment_id), _encode(taken), last=revision
            )
        except KeyWrongLastSequenceError:
            return None
        self._remember(taken, new_revision)
        if status is ClaimStatus.ATTACHED:
            self._watch(taken)
        return ClaimReply(status, revision=new_revision, record=taken)

    async def _over_payer_limit(self, request: ClaimRequest) -> int:
        """Seconds to wait when the payer is over its limit, else 0. Only new claims count."""
        limit = self.config.payer_settle_limit
        if limit <= 0:
            return 0
        window, retry_after = counters.current_window(self.config.payer_window_seconds)
        subject = subjects.rate("payer", encode_key(request.payer), window)
        # A payment claimed again after a release (handed to another replica, a node refused it, a
        # dropped transaction) is still one payment: counted once per window.
        count = await counters.increment(self.js, subject, once_as=f"{subject}/{request.payment_id}")
        return retry_after if count > limit else 0

    async def _take_secondary(self, key: str, payment_id: str) -> bool | None:
        """True: this call took `key` for the payment; None: the payment held it already; False:
        another payment holds it."""
        encoded = encode_key(key)
        try:
            await self.secondary.create(encoded, payment_id.encode())
            return True
        except KeyWrongLastSequenceError:
            try:
                holder = await self.secondary.get(encoded)
            except NotFoundError:
                return False
            return None if holder.value == payment_id.encode() else False

    async def _release_secondary(self, record: SettlementRecord) -> None:
        for key in record.secondary_keys:
            encoded = encode_key(key)
            try:
                holder = await self.secondary.get(encoded)
                if holder.value == record.payment_id.encode():
                    await self.secondary.delete(encoded, last=holder.revision)
            except APIError as exc:
                if not (isinstance(exc, NotFoundError) or _lost_race(exc)):
                    raise

    def _remember(self, record: SettlementRecord, revision: int) -> None:
        """A record as it stands at a revision: the content of a revision never changes."""
        self._known[(record.payment_id, revision)] = record
        if len(self._known) > KNOWN_RECORDS:
            self._known.popitem(last=False)

    async def _transition(self, payment_id: str, revision: int, change) -> UpdateReply:
        known = self._known.pop((payment_id, revision), None)
        if known is None:
            current = await self.get(payment_id)
            if current is None or current[1] != revision:
                return UpdateReply(
                    ok=False, revision=current[1] if current else 0, record=current[0] if current else None
                )
            known = current[0]
        if known.state in FINAL_STATES:
            return UpdateReply(ok=False, revision=revision, record=known)
        record = change(msgspec.structs.replace(known))
        record.updated_at = time.time()
        try:
            new_revision = await self.records.update(encode_key(payment_id), _encode(record), last=revision)
        except KeyWrongLastSequenceError:
            latest = await self.get(payment_id)
            return UpdateReply(
                ok=False, revision=latest[1] if latest else 0, record=latest[0] if latest else None
            )
        self._remember(record, new_revision)
        return UpdateReply(ok=True, revision=new_revision, record=record)

    async def submit(self, request: SubmitRequest) -> UpdateReply:
        def to_submitted(record: SettlementRecord) -> SettlementRecord:
            record.state = RecordState.SUBMITTED
            record.transaction = request.transaction
            record.hint = request.hint
            return record

        return await self._transition(request.payment_id, request.revision, to_submitted)

    async def finalize(self, request: FinalizeRequest) -> UpdateReply:
        """Store the final verdict unless one is stored; hand a success to the attached requester.

        The verdict is the chain's, so any process may store it (compare-and-set on whatever revision is
        current); who receives the success is decided in the same write, and only an attempt still
        attached receives it: one that detached (it answered, or gave up) before this write gets
        nothing, whenever this request arrives.
        """
        revision = request.revision
        for _ in range(CLAIM_ATTEMPTS):
            known = self._known.pop((request.payment_id, revision), None)
            if known is None:
                current = await self.get(request.payment_id)
                if current is None:
                    return UpdateReply(ok=False)
                known, revision = current
            now = time.time()
            record = msgspec.structs.replace(known)
            newly_final = record.state not in FINAL_STATES
            if newly_final:
                record.state = RecordState.SETTLED if request.response.success else RecordState.FAILED
                record.response = request.response
                record.transaction = request.response.transaction or record.transaction
                record.updated_at = now
            deliver = (
                record.state is RecordState.SETTLED
                and not record.delivered_at
                and bool(request.requester)
                and record.attached == request.requester
                and record.attempt == request.attempt
                and now < record.attached_until
            )
            if deliver:
                record.delivered_at, record.delivered_to = now, request.requester
            if record.state in FINAL_STATES and (deliver or record.state is RecordState.FAILED):
                record.attached, record.attached_until = "", 0.0
                record.attempt = request.attempt if deliver else ""
            if not newly_final and not deliver:
                self._attached.pop(request.payment_id, None)
                self._remember(known, revision)
                return UpdateReply(ok=True, revision=revision, record=known)
            try:
                revision = await self.records.update(
                    encode_key(request.payment_id), _encode(record), last=revision
                )
            except KeyWrongLastSequenceError:
                revision = -1
                continue
            self._remember(record, revision)
            self._attached.pop(request.payment_id, None)
            if newly_final:
                # After the answer: the record is final already, an index entry is only a hint.
                if self.pending_index.holds(encode_key(request.payment_id)):
                    self._in_background(self._drop_pending(request.payment_id))
                if not request.response.success:
                    await self._release_secondary(record)
            return UpdateReply(ok=True, revision=revision, record=record, delivered=deliver)
        return UpdateReply(ok=False)

    async def detach(self, request: DetachRequest) -> UpdateReply:
        """The requester holds the record no more: end its attachment and undo a delivery made to it,
        in one compare-and-set, so the payment's success is still one request's to take (the retry's).

        ok: after this call the requester holds nothing (also when it held nothing); not ok only when
        the record kept changing (the caller tries again)."""

        def held(record: SettlementRecord) -> bool:
            by_it = request.requester in (record.attached, record.delivered_to)
            return bool(request.requester) and by_it and record.attempt == request.attempt

        for _ in range(CLAIM_ATTEMPTS):
            current = await self.get(request.payment_id)
            if current is None or not held(current[0]):
                return UpdateReply(ok=True, revision=current[1] if current else 0)
            record = msgspec.structs.replace(
                current[0], attached="", attached_until=0.0, delivered_at=0.0, delivered_to="", attempt=""
            )
            try:
                revision = await self.records.update(
                    encode_key(request.payment_id), _encode(record), last=current[1]
                )
            except KeyWrongLastSequenceError:
                continue
            self._remember(record, revision)
            if record.state not in FINAL_STATES:
                await self._index_let_go(record)
            return UpdateReply(ok=True, revision=revision, record=record)
        return UpdateReply(ok=False)

    async def release(self, request: ReleaseRequest) -> UpdateReply:
        current = await self.get(request.payment_id)
        if current is None or current[1] != request.revision or current[0].state in FINAL_STATES:
            return UpdateReply(
                ok=False, revision=current[1] if current else 0, record=current[0] if current else None
            )
        try:
            await self.records.delete(encode_key(request.payment_id), last=request.revision)
        except APIError as exc:
            if _lost_race(exc):
                return UpdateReply(ok=False)
            raise
        self._attached.pop(request.payment_id, None)
        if self.pending_index.holds(encode_key(request.payment_id)):
            await self._drop_pending(request.payment_id)
        await self._release_secondary(current[0])
        log.info("released the claim on %s: %s", request.payment_id, request.reason)
        return UpdateReply(ok=True)

    def _watch(self, record: SettlementRecord) -> None:
        """An attempt attached through this replica: its record is indexed if nobody finishes it or
        lets it go by a little past its deadline."""
        self._attached[record.payment_id] = record.attached_until + OVERDUE_GRACE_SECONDS

    async def _index_let_go(self, record: SettlementRecord) -> bool:
        """List a record nobody works on any more for the reconcilers; True once listed. A write that
        fails is made again by the overdue pass (the record stays watched, overdue, until written)."""
        try:
            await self.pending.put(encode_key(record.payment_id), record.family.encode())
        except Exception as exc:
            log.warning("pending index: %s listed on the next overdue pass: %s", record.payment_id, exc)
            self._attached[record.payment_id] = 0.0
            return False
        self._attached.pop(record.payment_id, None)
        return True

    async def index_overdue(self, now: float | None = None) -> int:
        """Index the records attached through this replica that are past their deadline (and grace)
        and neither finished nor let go here: their attempt died, or finished them through another
        replica (then they are final: dropped unwritten). Returns how many were indexed."""
        now = time.time() if now is None else now
        indexed = 0
        for payment_id, due in list(self._attached.items()):
            if due > now:
                continue
            found = await self.get(payment_id)
            if found is None or found[0].state in FINAL_STATES:
                self._attached.pop(payment_id, None)
                continue
            if found[0].attached_live(now):  # taken over through another replica: its attempt's now
                self._watch(found[0])
                continue
            indexed += await self._index_let_go(found[0])
        return indexed

    async def _index_overdue_forever(self) -> None:
        while True:
            await asyncio.sleep(OVERDUE_PASS_SECONDS)
            try:
                await self.index_overdue()
            except Exception as exc:  # NATS away: the next pass tries again
                log.warning("pending index: overdue pass: %s", exc)

    async def _drop_pending(self, payment_id: str) -> None:
        """Best effort: the record is what counts. A key left behind (no stream leader for a moment,
        e.g. while a NATS node restarts) is dropped by the next `list_pending` that finds it final."""
        try:
            await self.pending.delete(encode_key(payment_id))
        except NotFoundError:
            pass
        except Exception as exc:
            log.warning("pending index: %s stays listed until the next pass: %s", payment_id, exc)

    async def list_pending(self, request: PendingRequest) -> PendingReply:
        """Records not final yet, from the pending index this replica follows (O(pending), and no
        JetStream consumer per call: reconcilers and the metrics exporter ask every few seconds)."""
        records: list[SettlementRecord] = []
        revisions: list[int] = []
        cutoff = time.time() - request.older_than_seconds
        family = request.family.encode()
        for key in self.pending_index.keys_of(family):
            try:
                found = await self.records.get(key)
            except NotFoundError:
                continue
            if not found.value:
                continue
            record = _record_decoder.decode(found.value)
            if record.state in FINAL_STATES:
                await self._drop_pending(record.payment_id)  # left behind by a failed delete
                continue
            if record.updated_at > cutoff:
                continue
            records.append(record)
            revisions.append(found.revision)
            if len(records) >= request.limit:
                break
        return PendingReply(records=records, revisions=revisions)
