"""Every bucket and stream x402fac uses, declared by the ledger at start-up (it owns the schema;
docs/design.md, 4), each bounded in age and size and replicated `X402FAC_JETSTREAM_REPLICAS` times."""

from dataclasses import dataclass

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


async def declare(js: JetStreamContext, config: LedgerConfig) -> Buckets:
    """Create or update every bucket, stream and the usage consumer; the buckets the ledger uses."""
    limits = {
        "replicas": config.replicas,
        "max_age": config.record_max_age,
        "max_bytes": config.bucket_max_bytes,
    }
    records = await ensure_bucket(js, subjects.SETTLEMENTS_BUCKET, **limits)
    secondary = await ensure_bucket(js, subjects.SECONDARY_BUCKET, **limits)
    pending = await ensure_bucket(js, PENDING_BUCKET, **limits)
    # Leases are renewed every few seconds: an entry a day old belongs to nobody.
    await ensure_bucket(
        js,
        subjects.LEASES_BUCKET,
        replicas=config.replicas,
        max_age=86_400.0,
        max_bytes=64 * 1024 * 1024,
    )
    await counters.ensure_rate_stream(
        js,
        max(60, config.payer_window_seconds),
        max_bytes=config.bucket_max_bytes,
        replicas=config.replicas,
    )
    # API keys (hashes only), the whitelist, and usage summed from the audit stream.
    keys = await ensure_bucket(
        js,
        subjects.KEYS_BUCKET,
        replicas=config.replicas,
        max_age=config.key_retention_days * DAY,
        max_bytes=64 * 1024 * 1024,
    )
    whitelist = await ensure_bucket(
        js,
        subjects.WHITELIST_BUCKET,
        replicas=config.replicas,
        max_age=config.key_retention_days * DAY,
        max_bytes=256 * 1024 * 1024,
    )
    # The discovery catalog (entries of at most 16 KiB, capped in number: ledger.discovery) and
    # payment identifiers (one per successful settle that carried one), kept like the records.
    discovery = await ensure_bucket(
        js,
        DISCOVERY_BUCKET,
        replicas=config.replicas,
        max_age=DISCOVERY_RETENTION_SECONDS,
        max_bytes=256 * 1024 * 1024,
    )
    payment_ids = await ensure_bucket(js, PAYMENT_ID_BUCKET, **limits)
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
    return Buckets(records, secondary, pending, keys, whitelist, discovery, payment_ids)


def _streams(config: LedgerConfig) -> list[StreamConfig]:
    # Deny delete and purge: entries leave only by age or size (max_age works with deny_purge).
    audit = StreamConfig(
        name=subjects.AUDIT_STREAM,
        subjects=[f"{subjects.AUDIT_PREFIX}.>"],
        storage=StorageType.FILE,
        deny_delete=True,
        deny_purge=True,
        duplicate_window=120.0,
        num_replicas=config.replicas,
        max_age=config.audit_max_age,
        max_bytes=config.audit_max_bytes,
    )
    # Settle requests waiting for a worker: taken once (work queue), gone when acknowledged; a
    # request nobody took within a few minutes is long past its caller's deadline.
    work = StreamConfig(
        name=subjects.WORK_STREAM,
        subjects=[f"{subjects.WORK_PREFIX}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.WORK_QUEUE,
        duplicate_window=120.0,
        num_replicas=config.replicas,
        max_age=WORK_MAX_AGE_SECONDS,
        max_bytes=config.bucket_max_bytes,
    )
    # Counter streams: one subject per counter, its last message holds the total. Increments carry
    # a Nats-Msg-Id naming the audit entry, so a redelivered entry is never counted twice.
    counter_stream = {
        "storage": StorageType.FILE,
        "allow_msg_counter": True,
        "allow_direct": True,
        "max_msgs_per_subject": 1,
        "num_replicas": config.replicas,
    }
    usage = StreamConfig(
        name=subjects.USAGE_STREAM,
        subjects=[f"{subjects.USAGE_PREFIX}.>"],
        duplicate_window=USAGE_DUPLICATE_WINDOW,
        max_age=config.usage_retention_days * DAY,
        max_bytes=config.usage_max_bytes,
        **counter_stream,
    )
    quota = StreamConfig(
        name=subjects.QUOTA_STREAM,
        subjects=[f"{subjects.QUOTA_PREFIX}.>"],
        max_age=2 * 3600.0,
        max_bytes=64 * 1024 * 1024,
        **counter_stream,
    )
    recent = StreamConfig(
        name=subjects.RECENT_STREAM,
        subjects=[f"{subjects.RECENT_PREFIX}.>"],
        storage=StorageType.FILE,
        allow_direct=True,
        max_msgs_per_subject=RECENT_PER_KEY,
        duplicate_window=USAGE_DUPLICATE_WINDOW,
        num_replicas=config.replicas,
        max_age=config.usage_retention_days * DAY,
        max_bytes=config.usage_max_bytes,
    )
    return [audit, work, usage, quota, recent]
