"""Gateway settings from the environment (X402FAC_*; the README has the table), through the settings
layer (x402fac.settings): a bad value stops the start with an error naming the variable."""

import ipaddress
from dataclasses import dataclass
from functools import cached_property

from x402fac.settings import SettingsError, load, setting

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class GatewayConfig:
    host: str = setting("X402FAC_GATEWAY_HOST", "127.0.0.1", values="gateway.host")
    port: int = setting("X402FAC_GATEWAY_PORT", 4020, values="gateway.port", minimum=1, maximum=65535)
    public_url: str = setting("X402FAC_PUBLIC_URL", "", values="gateway.publicUrl")
    # per client IP and endpoint (verify, settle); 0 disables
    ip_limit_per_minute: int = setting(
        "X402FAC_IP_LIMIT_PER_MINUTE", 200, values="gateway.ipLimitPerMinute", minimum=0
    )
    # take the client IP from X-Forwarded-For: the hop the trusted proxy appended (rightmost)
    trust_proxy: bool = setting("X402FAC_TRUST_PROXY", False, values="gateway.trustProxy")
    # further proxies (addresses or CIDRs) in front of the gateway whose hops are skipped from the right
    trusted_proxies: tuple[str, ...] = setting("X402FAC_TRUSTED_PROXIES", (), values="gateway.trustedProxies")
    verify_timeout: float = setting(
        "X402FAC_VERIFY_TIMEOUT", 10.0, values="gateway.verifyTimeout", positive=True
    )
    settle_timeout: float = setting(
        "X402FAC_SETTLE_TIMEOUT", 45.0, values="gateway.settleTimeout", positive=True
    )
    supported_ttl: float = setting("X402FAC_SUPPORTED_TTL", 5.0, values="gateway.supportedTtl", positive=True)
    max_body_bytes: int = 256 * 1024
    # admission: requests in flight in this process (all routes but /health and /metrics), and per
    # worker family for verify and settle; over a bound the answer is 503 + Retry-After at once
    max_in_flight: int = setting("X402FAC_MAX_IN_FLIGHT", 512, values="gateway.maxInFlight", positive=True)
    verify_in_flight: int = setting(
        "X402FAC_VERIFY_IN_FLIGHT", 256, values="gateway.verifyInFlight", positive=True
    )
    settle_in_flight: int = setting(
        "X402FAC_SETTLE_IN_FLIGHT", 64, values="gateway.settleInFlight", positive=True
    )
    # open HTTP connections (held below the descriptor limit); the time a request's headers and body
    # may take to arrive
    max_connections: int = setting(
        "X402FAC_MAX_CONNECTIONS", 4096, values="gateway.maxConnections", positive=True
    )
    request_read_timeout: float = setting(
        "X402FAC_REQUEST_READ_TIMEOUT", 10.0, values="gateway.requestReadTimeout", positive=True
    )
    # the Swagger UI page at /schema/swagger (it loads its script from a CDN); the JSON is always served
    api_docs: bool = setting("X402FAC_API_DOCS", False, values="gateway.apiDocs")
    # the least a settled payment must be worth to list its resource in the discovery catalog, in
    # atomic units, per family; `<asset>=<amount>` entries set it per asset
    discovery_min_amount_evm: int = setting(
        "X402FAC_DISCOVERY_MIN_AMOUNT_EVM", 100_000, values="gateway.discoveryMinAmount.evm", minimum=0
    )
    discovery_min_amount_solana: int = setting(
        "X402FAC_DISCOVERY_MIN_AMOUNT_SOLANA", 100_000, values="gateway.discoveryMinAmount.solana", minimum=0
    )
    discovery_min_amount_nano: str = setting(
        "X402FAC_DISCOVERY_MIN_AMOUNT_NANO", str(10**28), values="gateway.discoveryMinAmount.nano"
    )
    discovery_min_amounts: tuple[str, ...] = setting(
        "X402FAC_DISCOVERY_MIN_AMOUNTS", (), values="gateway.discoveryMinAmounts"
    )
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

    def __post_init__(self) -> None:
        _ = self.proxy_networks, self.discovery_minimums  # a bad value stops the start

    @cached_property
    def proxy_networks(self) -> tuple[Network, ...]:
        try:
            return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies)
        except ValueError as exc:
            raise SettingsError(f"X402FAC_TRUSTED_PROXIES: {exc}") from None

    @cached_property
    def discovery_minimums(self) -> dict[str, int]:
        """Per family ("evm", "solana", "nano") and per asset (its address, as payments name it)."""
        if not self.discovery_min_amount_nano.isdigit():
            raise SettingsError("X402FAC_DISCOVERY_MIN_AMOUNT_NANO must be a whole number of raw")
        minimums = {
            "evm": self.discovery_min_amount_evm,
            "solana": self.discovery_min_amount_solana,
            "nano": int(self.discovery_min_amount_nano),
        }
        for item in self.discovery_min_amounts:
            asset, _, amount = item.rpartition("=")
            if not asset or not amount.isdigit():
                raise SettingsError(f"X402FAC_DISCOVERY_MIN_AMOUNTS: {item!r} is not <asset>=<amount>")
            minimums[f"asset:{asset}"] = int(amount)
        return minimums

    @classmethod
    def from_env(cls) -> "GatewayConfig":
        return load(cls)
