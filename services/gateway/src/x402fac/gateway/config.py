"""Gateway settings from the environment (X402FAC_*; docs/settings.md is the reference), through the
settings layer (x402fac.settings): a bad value stops the start with an error naming the variable."""

import ipaddress
from dataclasses import dataclass
from functools import cached_property

from x402fac.bus.subjects import WORK_DUPLICATE_WINDOW_SECONDS
from x402fac.settings import SectionSettings, SettingsError, load

MAX_SETTLE_TIMEOUT_SECONDS = WORK_DUPLICATE_WINDOW_SECONDS - 10

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


GATEWAY = SectionSettings("gateway")


@dataclass(frozen=True)
class GatewayConfig:
    host: str = GATEWAY("GATEWAY_HOST", "127.0.0.1", doc="the gateway's bind address")
    port: int = GATEWAY(
        "GATEWAY_PORT", 4020, minimum=1, maximum=65535, doc="the gateway's port (HTTP, /metrics included)"
    )
    public_url: str = GATEWAY(
        "PUBLIC_URL",
        "",
        doc="the gateway's URL as browsers reach it (behind a proxy): a dashboard request whose Origin is "
        "neither the Host it asked nor this one is refused",
    )
    ip_limit_per_minute: int = GATEWAY(
        "IP_LIMIT_PER_MINUTE",
        200,
        minimum=0,
        doc="requests per client IP and minute, per endpoint (verify, settle); 0 disables",
    )
    trust_proxy: bool = GATEWAY(
        "TRUST_PROXY",
        False,
        doc="1: the peer is a proxy, the client IP is the `X-Forwarded-For` hop it appended (the rightmost); "
        "off, the header is never read",
    )
    trusted_proxies: tuple[str, ...] = GATEWAY(
        "TRUSTED_PROXIES",
        (),
        doc="further proxies (addresses or CIDRs) whose hops are skipped from the right; when set, the header"
        " is read only from a peer among them",
    )
    verify_timeout: float = GATEWAY(
        "VERIFY_TIMEOUT", 10.0, doc="seconds the gateway waits for a worker's verify"
    )
    settle_timeout: float = GATEWAY(
        "SETTLE_TIMEOUT",
        45.0,
        maximum=MAX_SETTLE_TIMEOUT_SECONDS,
        doc="seconds the gateway waits for a settle (below the work stream's duplicate window: a settle "
        "whose publish was not acknowledged is published again under its id until then)",
    )
    supported_ttl: float = GATEWAY("SUPPORTED_TTL", 5.0, doc="seconds `/supported` is cached")
    max_body_bytes: int = 256 * 1024
    max_in_flight: int = GATEWAY(
        "MAX_IN_FLIGHT",
        512,
        positive=True,
        doc="requests in flight per gateway process (every route but `/health`, `/metrics`); over it: 503 "
        "`overloaded` + `Retry-After` at once",
    )
    verify_in_flight: int = GATEWAY(
        "VERIFY_IN_FLIGHT", 256, positive=True, doc="verifies in flight per worker family and gateway process"
    )
    settle_in_flight: int = GATEWAY(
        "SETTLE_IN_FLIGHT",
        256,
        positive=True,
        doc="settles in flight per worker family and gateway process (settles waiting on a chain never starve"
        " verify: by default this lane and the verify lane together fill `MAX_IN_FLIGHT`)",
    )
    max_connections: int = GATEWAY(
        "MAX_CONNECTIONS",
        4096,
        positive=True,
        doc="open HTTP connections per gateway (held below the descriptor limit); at the cap an idle one is "
        "closed, else the new one gets 503",
    )
    request_read_timeout: float = GATEWAY(
        "REQUEST_READ_TIMEOUT",
        10.0,
        doc="seconds a request's headers and body may take to arrive (slowloris, silent sockets) before the "
        "connection is closed",
    )
    api_docs: bool = GATEWAY(
        "API_DOCS",
        False,
        doc="1: serve the Swagger UI page at `/schema/swagger` (it loads its script from a CDN); `/schema` "
        "(JSON) is always served",
    )
    discovery_min_amount_evm: int = GATEWAY(
        "DISCOVERY_MIN_AMOUNT_EVM",
        100_000,
        values="gateway.discoveryMinAmount.evm",
        minimum=0,
        doc="least amount (atomic units) of a settled EVM payment that lists its resource in the discovery "
        "catalog",
    )
    discovery_min_amount_solana: int = GATEWAY(
        "DISCOVERY_MIN_AMOUNT_SOLANA",
        100_000,
        values="gateway.discoveryMinAmount.solana",
        minimum=0,
        doc="the same for Solana",
    )
    discovery_min_amount_nano: str = GATEWAY(
        "DISCOVERY_MIN_AMOUNT_NANO",
        str(10**28),
        values="gateway.discoveryMinAmount.nano",
        doc="the same for Nano (raw)",
    )
    discovery_min_amounts: tuple[str, ...] = GATEWAY(
        "DISCOVERY_MIN_AMOUNTS", (), doc="the same per asset: `<asset>=<amount>` items"
    )
    # API keys, admin API, whitelist (docs/product.md)
    require_api_key: bool = GATEWAY(
        "REQUIRE_API_KEY", False, doc="1: refuse verify and settle without an API key (401)"
    )
    require_registered_payto: bool = GATEWAY(
        "REQUIRE_REGISTERED_PAYTO",
        False,
        doc="1: refuse a `payTo` that is not on the whitelist (`address_not_registered`)",
    )
    admin_token: str = GATEWAY(
        "ADMIN_TOKEN",
        "",
        values="gateway.adminToken.existingSecret",
        secret=True,
        doc="the admin API's bearer token; empty disables the admin API",
    )
    api_key_cache_seconds: float = GATEWAY(
        "API_KEY_CACHE_SECONDS",
        5.0,
        doc="seconds a key (and a revocation) may be served from the gateway's cache",
    )
    bad_key_limit_per_minute: int = GATEWAY(
        "BAD_KEY_LIMIT_PER_MINUTE", 20, minimum=0, doc="invalid keys per client IP and minute before 429"
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
