"""How the dashboard and the admin API show what the ledger answers: keys without their hash, usage
as series per period, settlements with an explorer link, the public status per network. Plain functions over the wire
types, and `usage`, which asks the ledger for the rows it summarizes."""

import time
from collections import defaultdict
from typing import Any

from litestar.datastructures import State

from x402fac.bus import subjects
from x402fac.protocol import FAMILIES, SupportedResponse, family_of
from x402fac.protocol.ledger import (
    ApiKey,
    KeyCreateReply,
    RecentReply,
    RecentRequest,
    UsageReply,
    UsageRequest,
)

from .errors import GatewayError
from .replies import ask_ledger

# Block explorers by network (a devnet has none: its transactions are shown without a link).
EXPLORERS = {
    "eip155:1": "https://etherscan.io/tx/{}",
    "eip155:8453": "https://basescan.org/tx/{}",
    "eip155:84532": "https://sepolia.basescan.org/tx/{}",
    "eip155:43114": "https://snowtrace.io/tx/{}",
    "eip155:43113": "https://testnet.snowtrace.io/tx/{}",
    "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp": "https://solscan.io/tx/{}",
    "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1": "https://solscan.io/tx/{}?cluster=devnet",
    "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z": "https://solscan.io/tx/{}?cluster=testnet",
    "nano:mainnet": "https://nanexplorer.com/nano/block/{}",
    "nano:beta": "https://nanexplorer.com/nano-beta/block/{}",
}


def explorer_link(network: str, transaction: str) -> str:
    pattern = EXPLORERS.get(network)
    return pattern.format(transaction) if pattern and transaction else ""


def public_key(key: ApiKey) -> dict:
    """A key as lists show it: never its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "createdAt": key.created_at,
        "origin": key.origin,
        "ratePerMinute": key.rate_per_minute,
        "revokedAt": key.revoked_at or None,
    }


def created_key(reply: KeyCreateReply) -> dict:
    """The body of a 201 for a key just created (its secret shown this once); GatewayError otherwise."""
    if reply.ok and reply.key is not None:
        return {"key": public_key(reply.key), "secret": reply.secret}
    if reply.error in ("rate_limited", "too_many_keys"):
        message = (
            "too many keys created from this address; try later"
            if reply.error == "rate_limited"
            else ("no more keys can be created now")
        )
        raise GatewayError(429, "rate_limited", message, reply.retry_after or 3600)
    if reply.error == "disabled":
        raise GatewayError(403, "forbidden", "self-service keys are disabled here")
    raise GatewayError(400, "invalid_request", f"cannot create the key: {reply.error}")


def summarize(reply: UsageReply, periods: list[int]) -> dict:
    """Usage rows as the dashboard draws them: series per period, errors, amounts, per key totals."""
    index = {period: i for i, period in enumerate(periods)}
    series: dict[str, list[int]] = {
        name: [0] * len(periods) for name in ("verify", "settle", "settled", "failed")
    }
    errors: dict[str, int] = defaultdict(int)
    networks: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    amounts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    keys: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latency_ms = 0
    for row in reply.rows:
        value = int(row.value)
        slot = index.get(row.period)
        if row.kind == "amount":
            amounts[row.network][row.label] += value
            continue
        if row.kind == "settle_ms":
            latency_ms += value
            continue
        if row.kind not in ("verify", "settle"):
            continue
        keys[row.key_id][row.kind] += value
        networks[row.network][f"{row.kind}:{row.label}"] += value
        if slot is not None:
            series[row.kind][slot] += value
        ok = row.label in ("valid", "settled")
        if row.kind == "settle" and slot is not None:
            series["settled" if ok else "failed"][slot] += value
        if not ok:
            errors[row.label] += value
    settles = sum(series["settle"])
    return {
        "periods": periods,
        "series": series,
        "totals": {name: sum(values) for name, values in series.items()},
        "errors": dict(sorted(errors.items(), key=lambda item: -item[1])),
        "networks": {network: dict(counts) for network, counts in networks.items()},
        "amounts": {
            network: {asset: str(v) for asset, v in assets.items()} for network, assets in amounts.items()
        },
        "keys": {key: dict(counts) for key, counts in keys.items()},
        "settleLatencyMs": round(latency_ms / settles) if settles else None,
    }


async def usage(state: State, key_id: str, granularity: str, periods: int) -> dict:
    """The summary of `key_id`'s usage ("*": every key) over the latest `periods` hours or days."""
    seconds = 3600 if granularity == "h" else 86_400
    periods = max(1, min(periods, 400))
    latest = int(time.time() // seconds)
    reply = await ask_ledger(
        state, subjects.LEDGER_USAGE, UsageRequest(key_id, granularity, periods), UsageReply
    )
    summary = summarize(reply, list(range(latest - periods + 1, latest + 1)))
    summary["granularity"] = granularity
    summary["periodSeconds"] = seconds
    return summary


async def settlements(state: State, key_id: str) -> dict:
    """The latest settle outcomes of `key_id`, with a link to the network's explorer where there is one."""
    reply = await ask_ledger(state, subjects.LEDGER_RECENT, RecentRequest(key_id, 50), RecentReply)
    return {
        "settlements": [
            {
                "at": event.at,
                "network": event.network,
                "outcome": event.outcome,
                "transaction": event.transaction,
                "payer": event.payer,
                "asset": event.asset,
                "amount": event.amount,
                "explorer": explorer_link(event.network, event.transaction),
            }
            for event in reply.events
        ]
    }


def _network_rows(
    supported: SupportedResponse, replicas: dict[str, list[dict]], usage: dict | None
) -> list[dict[str, Any]]:
    """Per network served: its family's workers, RPC errors and settle success in the last hour; a row
    with no network for a family that serves none."""
    served: dict[str, set[str]] = defaultdict(set)
    for kind in supported.kinds:
        if kind.x402_version == 2:
            served[family_of(kind.network) or "?"].add(kind.network)
    rows = []
    for family in FAMILIES:
        alive = replicas.get(family, [])
        for network in sorted(served.get(family, set())):
            counts = (usage or {}).get("networks", {}).get(network, {})
            settled = counts.get("settle:settled", 0)
            settles = sum(v for k, v in counts.items() if k.startswith("settle:"))
            rows.append(
                {
                    "network": network,
                    "family": family,
                    "workers": len(alive),
                    "settling": sum(1 for r in alive if r.get("settles")),
                    "rpcErrors": counts.get("verify:node_unavailable", 0)
                    + counts.get("settle:node_unavailable", 0),
                    "settles": settles,
                    "settleSuccessRate": round(settled / settles, 4) if settles else None,
                }
            )
        if not served.get(family):
            rows.append({"family": family, "network": None, "workers": 0, "settling": 0})
    return rows


def status_body(
    supported: SupportedResponse,
    replicas: dict[str, list[dict]],
    live_families: list[str],
    connected: bool,
    usage: dict | None,
) -> dict:
    """The public status: `usage` is the last two hours' summary, None when the ledger did not answer."""
    return {
        "status": "ok" if connected else "degraded",
        "nats": "connected" if connected else "disconnected",
        "ledger": "ok" if usage is not None else "unavailable",
        "families": {family: family in live_families for family in FAMILIES},
        "networks": _network_rows(supported, replicas, usage),
        "lastHour": None
        if usage is None
        else {
            "settles": usage["totals"]["settle"],
            "settled": usage["totals"]["settled"],
            "successRate": round(usage["totals"]["settled"] / usage["totals"]["settle"], 4)
            if usage["totals"]["settle"]
            else None,
            "settleLatencyMs": usage["settleLatencyMs"],
        },
        "at": time.time(),
    }
