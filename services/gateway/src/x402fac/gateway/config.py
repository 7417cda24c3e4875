"""Gateway settings from the environment (X402FAC_*; docs/settings.md is the reference), through the
settings layer (x402fac.settings): a bad value stops the start with an error naming the variable."""

import ipaddress
from dataclasses import dataclass
from functools import cached_property

from x402fac.settings import SettingsError, load, setting

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class GatewayConfig:
    host: str = setting(
        "X402FAC_GATEWAY_HOST", "127.0.0.1", values="gateway.host", doc="the gateway's bind address"
    )
    port: int = setting(
        "X402FAC_GATEWAY_PORT",
        4020,
        values="gateway.port",
        minimum=1,
        maximum=65535,
        doc="the gateway's port (HTTP, /metrics included)",
    )
    public_url: str = setting(
        "X402FAC_PUBLIC_URL",
        "",
        values="gateway.publicUrl",
        doc="the gateway's URL as browsers reach it (behind a proxy): a dashboard request whose Origin is "
        "neither the Host it asked nor this one is refused",
    )
    ip_limit_per_minute: int = setting(
        "X402FAC_IP_LIMIT_PER_MINUTE",
        200,
        values="gateway.ipLimitPerMinute",
        minimum=0,
        doc="requests per client IP and minute, per endpoint (verify, settle); 0 disables",
    )
    trust_proxy: bool = setting(
        "X402FAC_TRUST_PROXY",
        False,
        values="gateway.trustProxy",
        doc="1: the peer is a proxy, the client IP is the `X-Forwarded-For` hop it appended (the rightmost); "
        "off, the header is never read",
    )
    trusted_proxies: tuple[str, ...] = setting(
        "X402FAC_TRUSTED_PROXIES",
        (),
        values="gateway.trustedProxies",
        doc="further proxies (addresses or CIDRs) whose hops are skipped from the right; when set, the header"
        " is read only from a peer among them",
    )
    verify_timeout: float = setting(
        "X402FAC_VERIFY_TIMEOUT",
        10.0,
        values="gateway.verifyTimeout",
        positive=True,
        doc="seconds the gateway waits for a worker's verify",
    )
    settle_timeout: float = setting(
        "X402FAC_SETTLE_TIMEOUT",
        45.0,
        values="gateway.settleTimeout",
        positive=True,
        doc="seconds the gateway waits for a settle",
    )
    supported_ttl: float = setting(
        "X402FAC_SUPPORTED_TTL",
        5.0,
        values="gateway.supportedTtl",
        positive=True,
        doc="seconds `/supported` is cached",
    )
    max_body_bytes: int = 256 * 1024
    max_in_flight: int = setting(
        "X402FAC_MAX_IN_FLIGHT",
        512,
        values="gateway.maxInFlight",
        positive=True,
        doc="requests in flight per gateway process (every route but `/health`, `/metrics`); over it: 503 "
        "`overloaded` + `Retry-After` at once",
    )
    verify_in_flight: int = setting(
        "X402FAC_VERIFY_IN_FLIGHT",
        256,
        values="gateway.verifyInFlight",
        positive=True,
        doc="verifies in flight per worker family and gateway process",
    )
    settle_in_flight: int = setting(
        "X402FAC_SETTLE_IN_FLIGHT",
        64,
        values="gateway.settleInFlight",
        positive=True,
        doc="settles in flight per worker family and gateway process (settles waiting on a chain never starve"
        " verify)",
    )
    max_connections: int = setting(
        "X402FAC_MAX_CONNECTIONS",
        4096,
        values="gateway.maxConnections",
        positive=True,
        doc="open HTTP connections per gateway (held below the descriptor limit); at the cap an idle one is "
        "closed, else the new one gets 503",
    )
    request_read_timeout: float = setting(
        "X402FAC_REQUEST_READ_TIMEOUT",
        10.0,
        values="gateway.requestReadTimeout",
        positive=True,
        doc="seconds a request's headers and body may take to arrive (slowloris, silent sockets) before the "
        "connection is closed",
    )
    api_docs: bool = setting(
        "X402FAC_API_DOCS",
        False,
        values="gateway.apiDocs",
        doc="1: serve the Swagger UI page at `/schema/swagger` (it loads its script from a CDN); `/schema` "
        "(JSON) is always served",
    )
    discovery_min_amount_evm: int = setting(
        "X402FAC_DISCOVERY_MIN_AMOUNT_EVM",
        100_000,
        values="gateway.discoveryMinAmount.evm",
        minimum=0,
        doc="least amount (atomic units) of a settled EVM payment that lists its resource in the discovery "
        "catalog",
    )
    discovery_min_amount_solana: int = setting(
        "X402FAC_DISCOVERY_MIN_AMOUNT_SOLANA",
        100_000,
        values="gateway.discoveryMinAmount.solana",
        minimum=0,
        doc="the same for Solana",
    )
    discovery_min_amount_nano: str = setting(
        "X402FAC_DISCOVERY_MIN_AMOUNT_NANO",
        str(10**28),
        values="gateway.discoveryMinAmount.nano",
        doc="the same for Nano (raw)",
    )
    discovery_min_amounts: tuple[str, ...] = setting(
        "X402FAC_DISCOVERY_MIN_AMOUNTS",
        (),
        values="gateway.discoveryMinAmounts",
        doc="the same per asset: `<asset>=<amount>` items",
    )
    # API keys, admin API, whitelist (docs/product.md)
    require_api_key: bool = setting(
        "X402FAC_REQUIRE_API_KEY",
        False,
        values="gateway.requireApiKey",
        doc="1: refuse verify and settle without an API key (401)",
    )
    require_registered_payto: bool = setting(
        "X402FAC_REQUIRE_REGISTERED_PAYTO",
        False,
        values="gateway.requireRegisteredPayto",
        doc="1: refuse a `payTo` that is not on the whitelist (`address_not_registered`)",
    )
    admin_token: str = setting(
        "X402FAC_ADMIN_TOKEN",
        "",
        values="gateway.adminToken.existingSecret",
        secret=True,
        doc="the admin API's bearer token; empty disables the admin API",
    )
    api_key_cache_seconds: float = setting(
        "X402FAC_API_KEY_CACHE_SECONDS",
        5.0,
        values="gateway.apiKeyCacheSeconds",
        positive=True,
        doc="seconds a key (and a revocation) may be served from the gateway's cache",
    )
    bad_key_limit_per_minute: int = setting(
        "X402FAC_BAD_KEY_LIMIT_PER_MINUTE",
        20,
        values="gateway.badKeyLimitPerMinute",
        minimum=0,
        doc="invalid keys per client IP and minute before 429",
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
