"""Network identifiers: CAIP-2 ids, the legacy v1 names, and which worker family serves a namespace."""

from typing import Final

# Legacy v1 name -> CAIP-2 id.
LEGACY_TO_CAIP2: Final[dict[str, str]] = {
    "ethereum": "eip155:1",
    "sepolia": "eip155:11155111",
    "base": "eip155:8453",
    "base-sepolia": "eip155:84532",
    "optimism": "eip155:10",
    "arbitrum": "eip155:42161",
    "polygon": "eip155:137",
    "polygon-amoy": "eip155:80002",
    "avalanche": "eip155:43114",
    "avalanche-fuji": "eip155:43113",
    "monad": "eip155:143",
    "solana": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    "solana-devnet": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    "nano": "nano:mainnet",
}
CAIP2_TO_LEGACY: Final[dict[str, str]] = {caip2: name for name, caip2 in LEGACY_TO_CAIP2.items()}

# CAIP-2 namespace -> worker family (the `<family>` in `x402.<family>.verify`).
NAMESPACE_FAMILY: Final[dict[str, str]] = {"eip155": "evm", "solana": "solana", "nano": "nano"}
FAMILIES: Final[tuple[str, ...]] = ("nano", "evm", "solana")


def to_caip2(network: str) -> str:
    """The CAIP-2 id for a legacy name; a CAIP-2 id (or anything unknown) is returned unchanged."""
    return LEGACY_TO_CAIP2.get(network, network)


def to_legacy(network: str) -> str:
    """The legacy v1 name of a CAIP-2 id, or the id itself when it has none."""
    return CAIP2_TO_LEGACY.get(network, network)


def family_of(network: str) -> str | None:
    """The worker family serving `network` (CAIP-2 or legacy), or None for an unknown namespace."""
    namespace, sep, reference = to_caip2(network).partition(":")
    if not sep or not reference:
        return None
    return NAMESPACE_FAMILY.get(namespace)
