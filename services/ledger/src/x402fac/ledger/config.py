"""Ledger settings from the environment (a bad value is an error naming its variable)."""

import os
from dataclasses import dataclass

DAY = 86_400.0
GIB = 1024**3


def _number(name: str, default: float, kind: type = int):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass(frozen=True)
class LedgerConfig:
    payer_settle_limit: int = 10  # settles per payer per window; 0 disables
    payer_window_seconds: int = 60
    replicas: int = 1  # JetStream replicas for buckets and streams (3 on a NATS cluster)
    # Storage is bounded: records outlive every payment's validity window (a replay is then refused
    # by the chain itself: nonce used, block present, blockhash expired), the audit trail is kept for
    # a number of days, and each bucket and stream has a size cap.
    record_retention_days: float = 30.0
    audit_retention_days: float = 30.0
    bucket_max_bytes: int = GIB
    audit_max_bytes: int = 4 * GIB
    # API keys, usage and the whitelist (issue 14).
    key_retention_days: float = 3650.0  # a key (or its revocation) is forgotten after this long
    usage_retention_days: float = 400.0  # hourly and daily usage counters
    usage_max_bytes: int = GIB
    key_create_per_hour: int = 5  # self-service keys per client IP and hour; 0 disables self-service
    max_keys: int = 10_000  # self-service creation stops at this many keys in the bucket
    self_service_rate_per_minute: int = 600  # the per-key limit a self-service key gets

    @property
    def record_max_age(self) -> float:
        return self.record_retention_days * DAY

    @property
    def audit_max_age(self) -> float:
        return self.audit_retention_days * DAY

    @classmethod
    def from_env(cls) -> "LedgerConfig":
        return cls(
            payer_settle_limit=_number("X402FAC_PAYER_SETTLE_LIMIT", cls.payer_settle_limit),
            payer_window_seconds=_number("X402FAC_PAYER_WINDOW_SECONDS", cls.payer_window_seconds),
            replicas=_number("X402FAC_JETSTREAM_REPLICAS", cls.replicas),
            record_retention_days=_number("X402FAC_RECORD_RETENTION_DAYS", cls.record_retention_days, float),
            audit_retention_days=_number("X402FAC_AUDIT_RETENTION_DAYS", cls.audit_retention_days, float),
            bucket_max_bytes=_number("X402FAC_BUCKET_MAX_BYTES", cls.bucket_max_bytes),
            audit_max_bytes=_number("X402FAC_AUDIT_MAX_BYTES", cls.audit_max_bytes),
            key_retention_days=_number("X402FAC_KEY_RETENTION_DAYS", cls.key_retention_days, float),
            usage_retention_days=_number("X402FAC_USAGE_RETENTION_DAYS", cls.usage_retention_days, float),
            usage_max_bytes=_number("X402FAC_USAGE_MAX_BYTES", cls.usage_max_bytes),
            key_create_per_hour=_number("X402FAC_KEY_CREATE_PER_HOUR", cls.key_create_per_hour),
            max_keys=_number("X402FAC_MAX_KEYS", cls.max_keys),
            self_service_rate_per_minute=_number(
                "X402FAC_SELF_SERVICE_KEY_RATE", cls.self_service_rate_per_minute
            ),
        )
