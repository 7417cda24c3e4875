"""`GET /supported` assembled from parts: a worker merges its schemes' parts and adds the x402 v1
twins once; the gateway merges the live workers' answers and adds its own extensions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .networks import to_legacy
from .types import SupportedKind, SupportedResponse


class SupportedParts(Protocol):
    """What one contributor lists: a scheme's part, or a worker's whole answer."""

    kinds: list[SupportedKind]
    signers: dict[str, list[str]]
    extensions: list[str]


def with_legacy(kinds: Iterable[SupportedKind]) -> list[SupportedKind]:
    """Each v2 `exact` kind followed by the same kind for x402 v1 under the network's legacy name, if it
    has one (x402 v1 clients only know `base`, `solana-devnet`, ..., and only the `exact` scheme)."""
    listed: list[SupportedKind] = []
    for kind in kinds:
        listed.append(kind)
        legacy = to_legacy(kind.network)
        if kind.x402_version == 2 and kind.scheme == "exact" and legacy != kind.network:
            listed.append(SupportedKind(x402_version=1, scheme=kind.scheme, network=legacy, extra=kind.extra))
    return listed


def merge_supported(parts: Iterable[SupportedParts], extensions: Iterable[str] = ()) -> SupportedResponse:
    """Every part's kinds in order; signers per namespace and extensions listed once each."""
    merged = SupportedResponse()
    for part in parts:
        merged.kinds.extend(part.kinds)
        for namespace, signers in part.signers.items():
            known = merged.signers.setdefault(namespace, [])
            known.extend(s for s in signers if s not in known)
        merged.extensions.extend(e for e in part.extensions if e not in merged.extensions)
    merged.extensions.extend(e for e in extensions if e not in merged.extensions)
    return merged
