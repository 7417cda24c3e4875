"""Gateway settings from the environment (X402FAC_*; the README has the table), through the settings
layer (x402fac.telemetry.settings): a bad value stops the start with an error naming the variable."""

from dataclasses import dataclass

from x402fac.telemetry.settings import load, setting


@dataclass(frozen=True)
class GatewayConfig:
    host: str = setting("X402FAC_GATEWAY_HOST", "127.0.0.1", values="gateway.host")
    port: int = setting("X402FAC_GATEWAY_PORT", 4020, values="gateway.port", minimum=1, maximum=65535)
    public_url: str = setting("X402FAC_PUBLIC_URL", "", values="gateway.publicUrl")
    # per client IP and endpoint (verify, settle); 0 disables
    ip_limit_per_minute: int = setting(
        "X402FAC_IP_LIMIT_PER_MINUTE", 200, values="gateway.ipLimitPerMinute", minimum=0
    )
    # take the client IP from X-Forwarded-For
    trust_proxy: bool = setting("X402FAC_TRUST_PROXY", False, values="gateway.trustProxy")
    verify_timeout: float = setting(
        "X402FAC_VERIFY_TIMEOUT", 10.0, values="gateway.verifyTimeout", positive=True
    )
    settle_timeout: float = setting(
        "X402FAC_SETTLE_TIMEOUT", 45.0, values="gateway.settleTimeout", positive=True
    )
    supported_ttl: float = setting("X402FAC_SUPPORTED_TTL", 5.0, values="gateway.supportedTtl", positive=True)
    max_body_bytes: int = 256 * 1024
    # API keys, admin API, whitelist (docs/product.md)
    # refuse verify/settle without a key (401)
    require_api_key: bool = setting("X402FAC_REQUIRE_API_KEY", False, values="gateway.requireApiKey")
    # refuse an unregistered payTo (address_not_registered)
    require_registered_payto: bool = setting(
        "X402FAC_REQUIRE_REGISTERED_PAYTO", False, values="gateway.requireRegisteredPayto"
    )
    # the admin API's bearer token; "" disables the admin API
    admin_token: str = setting(
        "X402FAC_ADMIN_TOKEN", "", values="gateway.adminToken.existingSecret", secret=True
    )
    # how long a key (and a revocation) may be served from cache
    api_key_cache_seconds: float = setting(
        "X402FAC_API_KEY_CACHE_SECONDS", 5.0, values="gateway.apiKeyCacheSeconds", positive=True
    )
    # invalid keys per client IP and minute before 429
    bad_key_limit_per_minute: int = setting(
        "X402FAC_BAD_KEY_LIMIT_PER_MINUTE", 20, values="gateway.badKeyLimitPerMinute", minimum=0
    )

    @classmethod
    def from_env(cls) -> "GatewayConfig":
        return load(cls)
