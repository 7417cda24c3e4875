"""Every bucket and stream x402fac uses, declared by the ledger at start-up (it owns the schema;
docs/design.md, 4), each bounded in age and size and replicated `X402FAC_JETSTREAM_REPLICAS` times."""

from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from x402fac.bus import counters, ensure_bucket, subjects
from x402fac.protocol.ledger import DISCOVERY_BUCKET, PAYMENT_ID_BUCKET

from .config import DAY, LedgerConfig
from .discovery import DISCOVERY_RETENTION_SECONDS

PENDING_BUCKET = "x402fac_pending"  # payment id -> family of every record not final
WORK_MAX_AGE_SECONDS = 300.0
# Usage: an audit entry not acknowledged within USAGE_ACK_WAIT comes again, and its increments are
# deduplicated for USAGE_DUPLICATE_WINDOW, so it is counted once unless the ledger is away longer.
USAGE_ACK_WAIT = 30.0
USAGE_DUPLICATE_WINDOW = 600.0
RECENT_PER_KEY = 50  # settle outcomes kept per key for the dashboard
MIB = 1024 * 1024


@dataclass(slots=True)
class Buckets:
    """The key-value buckets the ledger reads and writes itself."""

    records: KeyValue  # settlement records; the claim is the `create`
    secondary: KeyValue  # secondary key -> payment id
    pending: KeyValue
    keys: KeyValue  # API keys (hashes only)
    whitelist: KeyValue
    discovery: KeyValue
    payment_ids: KeyValue


def _bucket_limits(config: LedgerConfig) -> dict[str, tuple[float, int]]:
    """Every bucket: how many seconds an entry is kept, and the bucket's size cap in bytes."""
    like_records = (config.record_max_age, config.bucket_max_bytes)
    key_age = config.key_retention_days * DAY
    return {
        subjects.SETTLEMENTS_BUCKET: like_records,
        subjects.SECONDARY_BUCKET: like_records,
        PENDING_BUCKET: like_records,
        # Leases are renewed every few seconds: an entry a day old belongs to nobody.
        subjects.LEASES_BUCKET: (DAY, 64 * MIB),
        # API keys (hashes only) and the whitelist; usage is summed from the audit stream.
        subjects.KEYS_BUCKET: (key_age, 64 * MIB),
        subjects.WHITELIST_BUCKET: (key_age, 256 * MIB),
        # The discovery catalog (entries of at most 16 KiB, capped in number: ledger.discovery) and
        # payment identifiers (one per successful settle that carried one), kept like the records.
        DISCOVERY_BUCKET: (DISCOVERY_RETENTION_SECONDS, 256 * MIB),
        PAYMENT_ID_BUCKET: like_records,
    }


async def declare(js: JetStreamContext, config: LedgerConfig) -> Buckets:
    """Create or update every bucket, stream and the usage consumer; the buckets the ledger uses."""
    opened = {
        name: await ensure_bucket(js, name, replicas=config.replicas, max_age=max_age, max_bytes=max_bytes)
        for name, (max_age, max_bytes) in _bucket_limits(config).items()
    }
    await counters.ensure_rate_stream(
        js,
        max(60, config.payer_window_seconds),
        max_bytes=config.bucket_max_bytes,
        replicas=config.replicas,
    )
    for stream in _streams(config):
        try:
            await js.stream_info(stream.name)
            await js.update_stream(stream)
        except NotFoundError:
            await js.add_stream(stream)
    # Every ledger replica pulls from this one durable consumer: each audit entry goes to one of
    # them, and comes again (to any) until it is acknowledged.
    await js.add_consumer(
        subjects.AUDIT_STREAM,
        ConsumerConfig(
            durable_name=subjects.USAGE_CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=USAGE_ACK_WAIT,
            max_ack_pending=10_000,
            filter_subject=f"{subjects.AUDIT_PREFIX}.>",
        ),
    )
    return Buckets(
        records=opened[subjects.SETTLEMENTS_BUCKET],
        secondary=opened[subjects.SECONDARY_BUCKET],
        pending=opened[PENDING_BUCKET],
        keys=opened[subjects.KEYS_BUCKET],
        whitelist=opened[subjects.WHITELIST_BUCKET],
        discovery=opened[DISCOVERY_BUCKET],
        payment_ids=opened[PAYMENT_ID_BUCKET],
    )


def _streams(config: LedgerConfig) -> list[StreamConfig]:
    def stream(name: str, prefix: str, **options: Any) -> StreamConfig:
        """A file stream of every subject under `prefix`, replicated as every bucket is."""
        return StreamConfig(
            name=name,
            subjects=[f"{prefix}.>"],
            storage=StorageType.FILE,
            num_replicas=config.replicas,
            **options,
        )

    # Deny delete and purge: entries leave only by age or size (max_age works with deny_purge).
    audit = stream(
        subjects.AUDIT_STREAM,
        subjects.AUDIT_PREFIX,
        deny_delete=True,
        deny_purge=True,
        duplicate_window=120.0,
        max_age=config.audit_max_age,
        max_bytes=config.audit_max_bytes,
    )
    # Settle requests waiting for a worker: taken once (work queue), gone when acknowledged; a
    # request nobody took within a few minutes is long past its caller's deadline.
    work = stream(
        subjects.WORK_STREAM,
        subjects.WORK_PREFIX,
        retention=RetentionPolicy.WORK_QUEUE,
        duplicate_window=subjects.WORK_DUPLICATE_WINDOW_SECONDS,
        max_age=WORK_MAX_AGE_SECONDS,
        max_bytes=config.bucket_max_bytes,
    )
    # Counter streams: one subject per counter, its last message holds the total. Increments carry
    # a Nats-Msg-Id naming the audit entry, so a redelivered entry is never counted twice.
    counter: dict[str, Any] = {"allow_msg_counter": True, "allow_direct": True, "max_msgs_per_subject": 1}
    usage = stream(
        subjects.USAGE_STREAM,
        subjects.USAGE_PREFIX,
        **counter,
        duplicate_window=USAGE_DUPLICATE_WINDOW,
        max_age=config.usage_retention_days * DAY,
        max_bytes=config.usage_max_bytes,
    )
    quota = stream(
        subjects.QUOTA_STREAM,
        subjects.QUOTA_PREFIX,
        **counter,
        max_age=2 * 3600.0,
        max_bytes=64 * MIB,
    )
    recent = stream(
        subjects.RECENT_STREAM,
        subjects.RECENT_PREFIX,
        allow_direct=True,
        max_msgs_per_subject=RECENT_PER_KEY,
        duplicate_window=USAGE_DUPLICATE_WINDOW,
        max_age=config.usage_retention_days * DAY,
        max_bytes=config.usage_max_bytes,
    )
    return [audit, work, usage, quota, recent]
