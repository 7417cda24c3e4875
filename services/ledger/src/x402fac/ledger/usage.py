"""Per-key usage, summed from the audit stream, exactly once per audit entry on any number of replicas.

Every ledger replica pulls from one durable consumer on the audit stream through one lingering pull
request at a time (x402fac.bus.LingeringPull; each entry goes to one replica, and again to any
replica until acknowledged), gathering: a trickle of entries (one settle a second) is taken in groups
every `GATHER_SECONDS` rather than one wake-up of the ledger and of nats-server per entry and per
write, so usage may show an outcome that much later. An entry becomes increments on JetStream
counters, one subject per counter:

    x402usage.<key>.h.<hour>.verify.<network>.<outcome>
    x402usage.<key>.h.<hour>.settles.<network>.<outcome>.<asset>

(`hour` = hours since the epoch; `asset` `-` unless the settle moved an amount). A settle outcome
is one increment, not one per figure: its count, its milliseconds and its amount are packed in one
integer, `count + ms * 2**64 + amount * 2**128` (JetStream counters are arbitrary-precision, and
neither a count nor the milliseconds of a counter's hour reach 2**64, one settle's milliseconds being
capped at 2**32, so sums never mix), unpacked
when asked for into the `settle`, `settle_ms` and `amount` rows. Days are the sums of their hours,
added up when asked for. Each increment carries `Nats-Msg-Id = <audit sequence>/<subject>`: an
entry handled twice (a replica died before acknowledging it) adds nothing the second time. The
audit stream itself holds one settle entry per payment and outcome (the worker's Msg-Id), so a
retried settle is one entry. Settle outcomes are also kept per key (the latest 50) for the dashboard.
"""

import asyncio
import contextlib
import json
import logging
import time

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from x402fac.bus import LingeringPull, encode_key, subjects
from x402fac.bus.kv import decode_key
from x402fac.protocol.ledger import (
    AuditBatch,
    AuditEvent,
    RecentReply,
    RecentRequest,
    UsageReply,
    UsageRequest,
    UsageRow,
)

log = logging.getLogger(__name__)
ANONYMOUS = "_anon"
HOUR = 3600
GRANULARITIES = {"h": HOUR, "d": 86_400}
MAX_PERIODS = 400
PULL_BATCH = 200
PULL_SECONDS = 30.0
GATHER_SECONDS = 2.0  # how long entries trickling in may wait to be counted together
SETTLES = "settles"  # the kind token of a packed settle counter (count, milliseconds, amount)
FIELD_BITS = 64
FIELD_MASK = (1 << FIELD_BITS) - 1
# One settle's milliseconds as counted (49 days): an hour's sum stays below 2**64 under 2**32 settles.
MAX_ELAPSED_MS = (1 << 32) - 1
_event = msgspec.json.Decoder(AuditEvent).decode
_batch = msgspec.json.Decoder(AuditBatch).decode
_encode = msgspec.json.encode


def _token(value: str) -> str:
    return encode_key(value or "-")


def increments(event: AuditEvent) -> list[tuple[str, int]]:
    """(subject, amount) for every counter one audit entry adds to: one."""
    key = event.api_key_id or ANONYMOUS
    network = _token(event.network)
    base = f"{subjects.USAGE_PREFIX}.{key}.h.{int(event.at // HOUR)}"
    if event.kind != "settle":
        return [(f"{base}.{event.kind}.{network}.{_token(event.outcome)}", 1)]
    moved = event.outcome == "settled" and event.amount.isdigit() and int(event.amount) > 0
    amount, asset = (int(event.amount), event.asset) if moved else (0, "")
    elapsed_ms = min(max(event.elapsed_ms, 0), MAX_ELAPSED_MS)
    packed = 1 + (elapsed_ms << FIELD_BITS) + (amount << 2 * FIELD_BITS)
    return [(f"{base}.{SETTLES}.{network}.{_token(event.outcome)}.{_token(asset)}", packed)]


def unpacked(network: str, outcome: str, asset: str, value: int) -> list[tuple[str, str, str, int]]:
    """The rows (kind, network, label, value) a packed settle counter holds, as they are reported."""
    count, ms, amount = value & FIELD_MASK, (value >> FIELD_BITS) & FIELD_MASK, value >> 2 * FIELD_BITS
    rows = [("settle", network, outcome, count)]
    if amount:
        rows.append(("amount", network, asset, amount))
    if ms:
        rows.append(("settle_ms", network, "all", ms))
    return rows


def kept_recent(events: list[AuditEvent]) -> list[tuple[int, AuditEvent]]:
    """The settle outcomes of an audit entry kept in their key's recent list, with their index in the
    entry. The list is for the key holder's dashboard; nobody signs in as `_anon`, so anonymous
    settles are not kept (a write per settle nobody could read)."""
    return [(i, e) for i, e in enumerate(events) if e.kind == "settle" and e.api_key_id != ANONYMOUS]


def _valid_key_token(key: str) -> bool:
    return key in (ANONYMOUS, "*") or (0 < len(key) <= 32 and key.isalnum())


def _events(msg: Msg) -> list[AuditEvent]:
    """The outcomes one audit entry holds (a worker's batch of verifies, or one settle), each
    under a key token safe to put in a subject."""
    batched = msg.subject.startswith(f"{subjects.AUDIT_PREFIX}.{subjects.AUDIT_BATCH_KIND}.")
    events = _batch(msg.data).events if batched else [_event(msg.data)]
    return [
        event
        if event.api_key_id != "*" and _valid_key_token(event.api_key_id)
        else msgspec.structs.replace(event, api_key_id=ANONYMOUS)
        for event in events
    ]


class Usage:
    def __init__(self, nc: Client, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js

    # ---- aggregation --------------------------------------------------------------------------

    async def start(self) -> None:
        self._pull = LingeringPull(
            self.nc,
            subjects.AUDIT_STREAM,
            subjects.USAGE_CONSUMER,
            self._count,
            PULL_BATCH,
            PULL_SECONDS,
            GATHER_SECONDS,
        )
        await self._pull.start()

    async def stop(self) -> None:
        await self._pull.stop()

    async def _count(self, msg: Msg) -> None:
        try:
            events = _events(msg)
        except msgspec.MsgspecError:
            await msg.term()  # not an audit entry: nothing to count, ever
            return
        sums: dict[str, int] = {}
        for event in events:
            for subject, amount in increments(event):
                sums[subject] = sums.get(subject, 0) + amount
        sequence = msg.metadata.sequence.stream
        writes = [self._add(subject, amount, f"{sequence}/{subject}") for subject, amount in sums.items()]
        writes += [
            self.js.publish(
                f"{subjects.RECENT_PREFIX}.{event.api_key_id}",
                _encode(event),
                headers={"Nats-Msg-Id": f"recent/{sequence}/{index}"},
            )
            for index, event in kept_recent(events)
        ]
        try:  # all in one go (one socket write for them), acknowledged once all are stored
            if len(writes) == 1:
                await writes[0]  # a settle's one counter: no task to gather
            else:
                await asyncio.gather(*writes)
        except Exception as exc:  # not acknowledged: it comes again, and what was added is not re-added
            log.warning("usage of audit entry %d: %s", sequence, exc)
            return
        await msg.ack()

    async def _add(self, subject: str, amount: int, message_id: str) -> None:
        headers = {"Nats-Incr": f"+{amount}", "Nats-Msg-Id": message_id}
        await self.js.publish(subject, b"", headers=headers, timeout=5.0)

    # ---- queries ------------------------------------------------------------------------------

    async def usage(self, request: UsageRequest) -> UsageReply:
        seconds = GRANULARITIES.get(request.granularity)
        if seconds is None or not _valid_key_token(request.key_id):
            return UsageReply(key_id=request.key_id, granularity=request.granularity, rows=[])
        latest = int(time.time() // seconds)
        periods = max(1, min(request.periods, MAX_PERIODS))
        hours_per_period = seconds // HOUR
        first_hour = (latest - periods + 1) * hours_per_period
        filters = [
            f"{subjects.USAGE_PREFIX}.{request.key_id}.h.{hour}.>"
            for hour in range(first_hour, (latest + 1) * hours_per_period)
        ]
        sums: dict[tuple[int, str, str, str, str], int] = {}
        for subject, data in await self._last_messages(subjects.USAGE_STREAM, filters):
            parts = subject.split(".")
            if len(parts) not in (7, 8) or not parts[3].isdigit():
                continue
            key, hour, kind, network, label = parts[1], parts[3], parts[4], parts[5], parts[6]
            period = int(hour) // hours_per_period
            value = int(json.loads(data or b"{}").get("val", "0"))
            if len(parts) == 8:
                if kind != SETTLES:
                    continue
                found = unpacked(network, label, parts[7], value)
            else:  # one figure per counter (verifies; settles counted before they were packed)
                found = [(kind, network, label, value)]
            for row_kind, row_network, row_label, row_value in found:
                row = (period, row_kind, row_network, row_label, key)
                sums[row] = sums.get(row, 0) + row_value
        rows = [
            UsageRow(period, kind, decode_key(network), decode_key(label), str(value), key)
            for (period, kind, network, label, key), value in sorted(sums.items())
        ]
        return UsageReply(key_id=request.key_id, granularity=request.granularity, rows=rows)

    async def recent(self, request: RecentRequest) -> RecentReply:
        if not _valid_key_token(request.key_id) or request.key_id == "*":
            return RecentReply(events=[])
        subject = f"{subjects.RECENT_PREFIX}.{request.key_id}"
        limit = max(1, min(request.limit, 50))
        found = await self._direct(subjects.RECENT_STREAM, {"seq": 1, "next_by_subj": subject, "batch": 50})
        events = []
        for _, data in found:
            with contextlib.suppress(msgspec.MsgspecError):
                events.append(_event(data))
        return RecentReply(events=sorted(events, key=lambda e: e.at, reverse=True)[:limit])

    async def _last_messages(self, stream: str, filters: list[str]) -> list[tuple[str, bytes]]:
        found: list[tuple[str, bytes]] = []
        for start in range(0, len(filters), 100):  # the server takes a bounded filter list per call
            found.extend(await self._direct(stream, {"multi_last": filters[start : start + 100]}))
        return found

    async def _direct(self, stream: str, query: dict) -> list[tuple[str, bytes]]:
        """A batch direct get: messages until the end-of-batch status (204) or nothing (404)."""
        inbox = self.nc.new_inbox()
        subscription = await self.nc.subscribe(inbox)
        found: list[tuple[str, bytes]] = []
        try:
            await self.nc.publish(f"$JS.API.DIRECT.GET.{stream}", json.dumps(query).encode(), reply=inbox)
            while True:
                msg = await subscription.next_msg(timeout=5.0)
                headers = msg.headers or {}
                if "Status" in headers:
                    break
                found.append((headers.get("Nats-Subject", ""), msg.data))
        finally:
            await subscription.unsubscribe()
        return found
