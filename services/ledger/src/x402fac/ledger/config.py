"""Ledger settings from the environment, through the settings layer (x402fac.settings): a bad
value stops the start with an error naming its variable."""

from dataclasses import dataclass

from x402fac.settings import SectionSettings, load

DAY = 86_400.0
GIB = 1024**3


LEDGER = SectionSettings("ledger")
JETSTREAM = SectionSettings("jetstream")


@dataclass(frozen=True)
class LedgerConfig:
    payer_settle_limit: int = LEDGER(
        "PAYER_SETTLE_LIMIT", 10, minimum=0, doc="settles per payer per window (`rate_limited`); 0 disables"
    )
    admin_token: str = LEDGER(
        "ADMIN_TOKEN",
        "",
        values="gateway.adminToken.existingSecret",
        secret=True,
        doc="the admin API's token (the gateway's): an admin-origin key is minted only for a request carrying"
        " it",
    )
    payer_window_seconds: int = LEDGER("PAYER_WINDOW_SECONDS", 60, minimum=1, doc="that window, in seconds")
    replicas: int = JETSTREAM(
        "JETSTREAM_REPLICAS",
        1,
        minimum=1,
        maximum=5,
        doc="replicas of every bucket and stream (3 on a 3-node NATS cluster)",
    )
    # Storage is bounded: records outlive every payment's validity window (a replay is then refused
    # by the chain itself: nonce used, block present, blockhash expired), the audit trail is kept for
    # a number of days, and each bucket and stream has a size cap.
    record_retention_days: float = LEDGER(
        "RECORD_RETENTION_DAYS", 30.0, doc="days settlement records (and claims, memo keys) are kept"
    )
    audit_retention_days: float = LEDGER("AUDIT_RETENTION_DAYS", 30.0, doc="days the audit stream is kept")
    bucket_max_bytes: int = LEDGER(
        "BUCKET_MAX_BYTES", GIB, minimum=1, doc="size limit of each bucket and stream"
    )
    audit_max_bytes: int = LEDGER("AUDIT_MAX_BYTES", 4 * GIB, minimum=1, doc="size limit of the audit stream")
    # API keys, usage and the whitelist.
    key_retention_days: float = LEDGER(
        "KEY_RETENTION_DAYS", 3650.0, doc="days after which a key (or its revocation) is forgotten"
    )
    usage_retention_days: float = LEDGER(
        "USAGE_RETENTION_DAYS", 400.0, doc="days the hourly and daily usage counters are kept"
    )
    usage_max_bytes: int = LEDGER("USAGE_MAX_BYTES", GIB, minimum=1, doc="size limit of the usage bucket")
    key_create_per_hour: int = LEDGER(
        "KEY_CREATE_PER_HOUR",
        5,
        minimum=0,
        doc="self-service keys per client IP and hour; 0 disables self-service",
    )
    max_keys: int = LEDGER(
        "MAX_KEYS", 10_000, minimum=0, doc="self-service creation stops at this many keys in the bucket"
    )
    self_service_rate_per_minute: int = LEDGER(
        "SELF_SERVICE_KEY_RATE", 600, minimum=0, doc="the per-minute limit a self-service key gets"
    )
    pending_metrics_interval: float = LEDGER(
        "PENDING_METRICS_INTERVAL", 15.0, doc="seconds between exports of the pending-settlement gauges"
    )

    @property
    def record_max_age(self) -> float:
        return self.record_retention_days * DAY

    @property
    def audit_max_age(self) -> float:
        return self.audit_retention_days * DAY

    @classmethod
    def from_env(cls) -> "LedgerConfig":
        return load(cls)
