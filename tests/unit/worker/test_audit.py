"""Verify outcomes are published many to an audit entry: after a short delay, when a batch is
full, and when the worker stops — each outcome exactly once."""

import asyncio

import msgspec

from x402fac.bus import subjects
from x402fac.protocol.ledger import AuditBatch, AuditEvent
from x402fac.worker import audit
from x402fac.worker.audit import FLUSH_AFTER_SECONDS, VerifyAudit


class RecordingBus:
    """Stands in for the NATS connection: keeps what is published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, list[AuditEvent]]] = []

    async def publish(self, subject: str, data: bytes) -> None:
        self.published.append((subject, msgspec.json.decode(data, type=AuditBatch).events))


def outcome(n: int) -> AuditEvent:
    return AuditEvent("verify", "evm", "eip155:84532", "valid", at=float(n), payment_id=str(n))


def published_ids(bus: RecordingBus) -> list[str]:
    return [event.payment_id for _, events in bus.published for event in events]


async def test_outcomes_of_a_burst_are_one_entry_after_the_delay():
    bus = RecordingBus()
    gathered = VerifyAudit(bus, "evm")
    for n in range(30):
        gathered.add(outcome(n))
    assert bus.published == []  # nothing per verify
    await asyncio.sleep(FLUSH_AFTER_SECONDS * 3)
    assert [subject for subject, _ in bus.published] == [subjects.audit(subjects.AUDIT_BATCH_KIND, "evm")]
    assert published_ids(bus) == [str(n) for n in range(30)]


async def test_a_full_batch_goes_at_once_and_stopping_publishes_the_rest(monkeypatch):
    monkeypatch.setattr(audit, "MAX_EVENTS", 10)
    bus = RecordingBus()
    gathered = VerifyAudit(bus, "evm")
    for n in range(25):
        gathered.add(outcome(n))
    await asyncio.sleep(0)  # the full batches' publishes run
    assert [len(events) for _, events in bus.published] == [10, 10]
    await gathered.close()
    assert published_ids(bus) == [str(n) for n in range(25)]  # every outcome once, in order
    await asyncio.sleep(FLUSH_AFTER_SECONDS * 2)
    assert len(bus.published) == 3  # the timer of the stopped batch publishes nothing more
