"""Gateway settings from the environment (X402FAC_*; the README has the table)."""

import os
from dataclasses import dataclass


def _env(name: str, default: str) -> str:
    return os.environ.get(f"X402FAC_{name}", default)


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 4020
    public_url: str = ""
    ip_limit_per_minute: int = 200  # per client IP and endpoint (verify, settle); 0 disables
    trust_proxy: bool = False  # take the client IP from X-Forwarded-For
    verify_timeout: float = 10.0
    settle_timeout: float = 45.0
    supported_ttl: float = 5.0
    max_body_bytes: int = 256 * 1024

    @classmethod
    def from_env(cls) -> "GatewayConfig":
        return cls(
            host=_env("GATEWAY_HOST", cls.host),
            port=int(_env("GATEWAY_PORT", str(cls.port))),
            public_url=_env("PUBLIC_URL", ""),
            ip_limit_per_minute=int(_env("IP_LIMIT_PER_MINUTE", str(cls.ip_limit_per_minute))),
            trust_proxy=_env("TRUST_PROXY", "0") == "1",
            verify_timeout=float(_env("VERIFY_TIMEOUT", str(cls.verify_timeout))),
            settle_timeout=float(_env("SETTLE_TIMEOUT", str(cls.settle_timeout))),
            supported_ttl=float(_env("SUPPORTED_TTL", str(cls.supported_ttl))),
        )
