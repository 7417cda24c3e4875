"""Schemathesis hooks for the fuzz run (loaded through SCHEMATHESIS_HOOKS): aim bodies at the workers.

Random network strings almost never name a network a worker serves, so most generated bodies would
stop at the gateway's `unsupported_network`. For every generated body, hypothesis also draws one of
the served networks (or none) and puts it where the body names a network. Only a value that is
already a valid network string is replaced, by another valid one: a schema-valid body stays valid,
and an invalid one stays invalid for whatever made it so.
"""

from typing import Any

import schemathesis
from hypothesis import strategies as st

SERVED = [
    "nano:devnet",
    "eip155:84532",
    "base-sepolia",
    "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    "solana-devnet",
]


def _is_network(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 256


def _steer(body: Any, network: str | None) -> Any:
    if network is None or not isinstance(body, dict):
        return body
    steered = dict(body)
    for key in ("paymentRequirements", "paymentPayload"):
        part = steered.get(key)
        if isinstance(part, dict):
            part = steered[key] = dict(part)
            if _is_network(part.get("network")):
                part["network"] = network
            accepted = part.get("accepted")
            if isinstance(accepted, dict) and _is_network(accepted.get("network")):
                part["accepted"] = {**accepted, "network": network}
    return steered


@schemathesis.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy:
    return st.sampled_from([None, *SERVED]).map(lambda network: _steer(body, network))
