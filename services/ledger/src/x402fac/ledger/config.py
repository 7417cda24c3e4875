"""Ledger settings from the environment, through the settings layer (x402fac.settings): a bad
value stops the start with an error naming its variable."""

from dataclasses import dataclass

from x402fac.settings import load, setting

DAY = 86_400.0
GIB = 1024**3


@dataclass(frozen=True)
class LedgerConfig:
    payer_settle_limit: int = setting(
        "X402FAC_PAYER_SETTLE_LIMIT",
        10,
        values="ledger.payerSettleLimit",
        minimum=0,
        doc="settles per payer per window (`rate_limited`); 0 disables",
    )
    admin_token: str = setting(
        "X402FAC_ADMIN_TOKEN",
        "",
        values="gateway.adminToken.existingSecret",
        secret=True,
        doc="the admin API's token (the gateway's): an admin-origin key is minted only for a request carrying"
        " it",
    )
    payer_window_seconds: int = setting(
        "X402FAC_PAYER_WINDOW_SECONDS",
        60,
        values="ledger.payerWindowSeconds",
        minimum=1,
        doc="that window, in seconds",
    )
    replicas: int = setting(
        "X402FAC_JETSTREAM_REPLICAS",
        1,
        values="jetstream.replicas",
        minimum=1,
        maximum=5,
        doc="replicas of every bucket and stream (3 on a 3-node NATS cluster)",
    )
    # Storage is bounded: records outlive every payment's validity window (a replay is then refused
    # by the chain itself: nonce used, block present, blockhash expired), the audit trail is kept for
    # a number of days, and each bucket and stream has a size cap.
    record_retention_days: float = setting(
        "X402FAC_RECORD_RETENTION_DAYS",
        30.0,
        values="ledger.recordRetentionDays",
        positive=True,
        doc="days settlement records (and claims, memo keys) are kept",
    )
    audit_retention_days: float = setting(
        "X402FAC_AUDIT_RETENTION_DAYS",
        30.0,
        values="ledger.auditRetentionDays",
        positive=True,
        doc="days the audit stream is kept",
    )
    bucket_max_bytes: int = setting(
        "X402FAC_BUCKET_MAX_BYTES",
        GIB,
        values="ledger.bucketMaxBytes",
        minimum=1,
        doc="size limit of each bucket and stream",
    )
    audit_max_bytes: int = setting(
        "X402FAC_AUDIT_MAX_BYTES",
        4 * GIB,
        values="ledger.auditMaxBytes",
        minimum=1,
        doc="size limit of the audit stream",
    )
    # API keys, usage and the whitelist.
    key_retention_days: float = setting(
        "X402FAC_KEY_RETENTION_DAYS",
        3650.0,
        values="ledger.keyRetentionDays",
        positive=True,
        doc="days after which a key (or its revocation) is forgotten",
    )
    usage_retention_days: float = setting(
        "X402FAC_USAGE_RETENTION_DAYS",
        400.0,
        values="ledger.usageRetentionDays",
        positive=True,
        doc="days the hourly and daily usage counters are kept",
    )
    usage_max_bytes: int = setting(
        "X402FAC_USAGE_MAX_BYTES",
        GIB,
        values="ledger.usageMaxBytes",
        minimum=1,
        doc="size limit of the usage bucket",
    )
    key_create_per_hour: int = setting(
        "X402FAC_KEY_CREATE_PER_HOUR",
        5,
        values="ledger.keyCreatePerHour",
        minimum=0,
        doc="self-service keys per client IP and hour; 0 disables self-service",
    )
    max_keys: int = setting(
        "X402FAC_MAX_KEYS",
        10_000,
        values="ledger.maxKeys",
        minimum=0,
        doc="self-service creation stops at this many keys in the bucket",
    )
    self_service_rate_per_minute: int = setting(
        "X402FAC_SELF_SERVICE_KEY_RATE",
        600,
        values="ledger.selfServiceKeyRate",
        minimum=0,
        doc="the per-minute limit a self-service key gets",
    )
    pending_metrics_interval: float = setting(
        "X402FAC_PENDING_METRICS_INTERVAL",
        15.0,
        values="ledger.pendingMetricsInterval",
        positive=True,
        doc="seconds between exports of the pending-settlement gauges",
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
