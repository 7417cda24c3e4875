"""Which Solana networks this worker serves, their RPC endpoints, fee-payer keys and accepted mints.

Environment (a network is served when its RPC URLs are set; `<NET>` is MAINNET, DEVNET or TESTNET,
or any other name together with its genesis hash):

    X402FAC_SOLANA_<NET>_RPC_URLS         comma-separated RPC URLs, tried in order (failover)
    X402FAC_SOLANA_<NET>_GENESIS_HASH     genesis hash of a network not named above; its CAIP-2 id
                                          is solana:<first 32 characters>
    X402FAC_SOLANA_<NET>_FEE_PAYER_KEYS   comma-separated base58 64-byte keypairs for that network
    X402FAC_SOLANA_FEE_PAYER_KEYS         fee-payer keypairs for every network without its own
    X402FAC_SOLANA_<NET>_ASSETS           comma-separated mint allowlist (default: any SPL Token or
                                          Token-2022 mint)
    X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE micro-lamports per compute unit a payment may bid
                                          (default 5000000, the official scheme's cap)
    X402FAC_SOLANA_RPC_TIMEOUT            seconds per RPC request (default 10)
    X402FAC_SOLANA_CONFIRM_POLL           seconds between signature-status polls (default 0.2)

With no X402FAC_SOLANA_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-solana.json` (default data dir `.x402fac`), if that file exists.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.keypair import Keypair

KNOWN_NETWORKS = {
    "MAINNET": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    "DEVNET": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    "TESTNET": "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z",
}
MAX_COMPUTE_UNIT_PRICE = 5_000_000
DEVNET_INFO_FILE = "devnet-solana.json"
_RPC_URLS_RE = re.compile(r"X402FAC_SOLANA_([A-Z0-9_]+)_RPC_URLS")


@dataclass(frozen=True, slots=True)
class SolanaNetwork:
    network: str  # CAIP-2, e.g. "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
    rpc_urls: tuple[str, ...]
    fee_payers: tuple[Keypair, ...]
    assets: frozenset[str] | None = None  # None: any Token / Token-2022 mint

    @property
    def fee_payer_addresses(self) -> list[str]:
        return [str(k.pubkey()) for k in self.fee_payers]


@dataclass(frozen=True, slots=True)
class SolanaConfig:
    networks: tuple[SolanaNetwork, ...]
    max_compute_unit_price: int = MAX_COMPUTE_UNIT_PRICE
    rpc_timeout: float = 10.0
    confirm_poll: float = 0.2


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _keys(text: str | None, name: str) -> tuple[Keypair, ...]:
    try:
        return tuple(Keypair.from_base58_string(secret) for secret in _split(text))
    except ValueError:
        raise ValueError(f"{name} holds a key that is not a base58 64-byte keypair") from None


def load_config(env: Mapping[str, str] | None = None) -> SolanaConfig:
    env = os.environ if env is None else env
    shared_keys = _keys(env.get("X402FAC_SOLANA_FEE_PAYER_KEYS"), "X402FAC_SOLANA_FEE_PAYER_KEYS")
    networks = []
    for name, value in sorted(env.items()):
        match = _RPC_URLS_RE.fullmatch(name)
        if match is None:
            continue
        net = match.group(1)
        urls = tuple(_split(value))
        if not urls:
            raise ValueError(f"{name} is set but names no URL")
        genesis = env.get(f"X402FAC_SOLANA_{net}_GENESIS_HASH")
        network = f"solana:{genesis[:32]}" if genesis else KNOWN_NETWORKS.get(net)
        if network is None:
            raise ValueError(f"X402FAC_SOLANA_{net}_GENESIS_HASH is needed for a network named {net}")
        own_keys_name = f"X402FAC_SOLANA_{net}_FEE_PAYER_KEYS"
        keys = _keys(env.get(own_keys_name), own_keys_name) or shared_keys
        if not keys:
            raise ValueError(
                f"no fee-payer key for {network}: set {own_keys_name} or X402FAC_SOLANA_FEE_PAYER_KEYS"
            )
        assets = _split(env.get(f"X402FAC_SOLANA_{net}_ASSETS"))
        networks.append(SolanaNetwork(network, urls, keys, frozenset(assets) if assets else None))
    if not networks:
        devnet = devnet_network(Path(env.get("X402FAC_DATA_DIR", ".x402fac")) / DEVNET_INFO_FILE)
        if devnet is not None:
            networks.append(devnet)
    return SolanaConfig(
        networks=tuple(networks),
        max_compute_unit_price=int(env.get("X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE", MAX_COMPUTE_UNIT_PRICE)),
        rpc_timeout=float(env.get("X402FAC_SOLANA_RPC_TIMEOUT", "10")),
        confirm_poll=float(env.get("X402FAC_SOLANA_CONFIRM_POLL", "0.2")),
    )


def network_from_info(info: Mapping[str, Any]) -> SolanaNetwork:
    """The network a devnet's info (devnet-solana.json) describes, served with its fee-payer keys."""
    return SolanaNetwork(
        network=info["network"],
        rpc_urls=(info["rpc_url"],),
        fee_payers=tuple(Keypair.from_base58_string(entry["secret"]) for entry in info["fee_payers"]),
    )


def devnet_network(info_path: Path) -> SolanaNetwork | None:
    """The network a running devnet describes in its info file, or None if there is none."""
    if not info_path.is_file():
        return None
    return network_from_info(json.loads(info_path.read_text()))
