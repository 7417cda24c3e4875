"""Verify outcomes reach the audit stream many to an entry.

A verify is the cheapest request we serve, and an audit entry per verify cost more than the verify
itself (a stream write, its delivery to the ledger, a counter write, an acknowledgement). Verify
outcomes are gathered for at most `FLUSH_AFTER_SECONDS` (or `MAX_EVENTS`) and published as one
`AuditBatch`; the ledger counts an entry exactly once however many events it holds. A worker that
dies loses at most the verify counts of its last flush interval — never a settlement, whose
outcome is published on its own, at once.
"""

import asyncio
import logging

import msgspec
from nats.aio.client import Client

from x402fac.bus import subjects
from x402fac.protocol.ledger import AuditBatch, AuditEvent

log = logging.getLogger(__name__)
FLUSH_AFTER_SECONDS = 0.5
MAX_EVENTS = 500


class VerifyAudit:
    def __init__(self, nc: Client, family: str) -> None:
        self.nc = nc
        self.subject = subjects.audit(subjects.AUDIT_BATCH_KIND, family)
        self._events: list[AuditEvent] = []
        self._timer: asyncio.TimerHandle | None = None
        self._publishing: set[asyncio.Task] = set()

    def add(self, event: AuditEvent) -> None:
        self._events.append(event)
        if len(self._events) >= MAX_EVENTS:
            self._publish_soon(self._take())
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER_SECONDS, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._publish_soon(self._take())

    def _take(self) -> list[AuditEvent]:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        events, self._events = self._events, []
        return events

    def _publish_soon(self, events: list[AuditEvent]) -> None:
        if events:
            task = asyncio.ensure_future(self._publish(events))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _publish(self, events: list[AuditEvent]) -> None:
        try:  # core publish: the audit trail must never slow down or fail a request
            await self.nc.publish(self.subject, msgspec.json.encode(AuditBatch(events)))
        except Exception as exc:
            log.warning("audit publish of %d verify outcomes failed: %s", len(events), exc)

    async def close(self) -> None:
        """Publishes what is gathered (a replica stopping loses none of its counts)."""
        self._publish_soon(self._take())
        await asyncio.gather(*self._publishing)
