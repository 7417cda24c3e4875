"""The kinds a worker lists in `/supported`: every v2 kind, and its v1 twin where the network has a
legacy name (x402 v1 clients only know `base`, `solana-devnet`, ...)."""

from __future__ import annotations

from collections.abc import Iterable

from x402fac.protocol import SupportedKind, to_legacy


def with_legacy(kinds: Iterable[SupportedKind]) -> list[SupportedKind]:
    """Each v2 kind followed by the same kind for x402 v1 under the network's legacy name, if it has one."""
    listed: list[SupportedKind] = []
    for kind in kinds:
        listed.append(kind)
        legacy = to_legacy(kind.network)
        if kind.x402_version == 2 and legacy != kind.network:
            listed.append(SupportedKind(x402_version=1, scheme=kind.scheme, network=legacy, extra=kind.extra))
    return listed
