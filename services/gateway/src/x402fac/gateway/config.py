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
    # API keys, admin API, whitelist (docs/product.md)
    require_api_key: bool = False  # refuse verify/settle without a key (401)
    require_registered_payto: bool = False  # refuse an unregistered payTo (address_not_registered)
    admin_token: str = ""  # the admin API's bearer token; "" disables the admin API
    api_key_cache_seconds: float = 5.0  # how long a key (and a revocation) may be served from cache
    bad_key_limit_per_minute: int = 20  # invalid keys per client IP and minute before 429

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
            require_api_key=_env("REQUIRE_API_KEY", "0") == "1",
            require_registered_payto=_env("REQUIRE_REGISTERED_PAYTO", "0") == "1",
            admin_token=_env("ADMIN_TOKEN", ""),
            api_key_cache_seconds=float(_env("API_KEY_CACHE_SECONDS", str(cls.api_key_cache_seconds))),
            bad_key_limit_per_minute=int(_env("BAD_KEY_LIMIT_PER_MINUTE", str(cls.bad_key_limit_per_minute))),
        )
