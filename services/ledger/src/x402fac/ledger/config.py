"""Ledger settings from the environment."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class LedgerConfig:
    payer_settle_limit: int = 10  # settles per payer per window; 0 disables
    payer_window_seconds: int = 60
    replicas: int = 1  # JetStream replicas for buckets and streams (3 on a NATS cluster)

    @classmethod
    def from_env(cls) -> "LedgerConfig":
        return cls(
            payer_settle_limit=int(os.environ.get("X402FAC_PAYER_SETTLE_LIMIT", cls.payer_settle_limit)),
            payer_window_seconds=int(
                os.environ.get("X402FAC_PAYER_WINDOW_SECONDS", cls.payer_window_seconds)
            ),
            replicas=int(os.environ.get("X402FAC_JETSTREAM_REPLICAS", cls.replicas)),
        )
